"""Persons found / missed / invented by an artifact, against its own fp32 PyTorch model.

Each side's predict output (per image: xyxy boxes in pixels and scores, at a user's conf) is
matched to the reference one-to-one, greedily by decreasing score, at IoU >= 0.5. Numpy only:
used by compare_ultralytics.py for both sides, so both are judged by the same rule.
"""
from __future__ import annotations

import numpy as np

MATCH_IOU = 0.5


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between xyxy boxes a (N, 4) and b (M, 4)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_image(ref: dict, got: dict, iou: float = MATCH_IOU) -> dict:
    """{found, missed, invented, reference, predicted} for one image; ref/got: {"xyxy": [...], "conf": [...]}."""
    r, g = np.asarray(ref["xyxy"]).reshape(-1, 4), np.asarray(got["xyxy"]).reshape(-1, 4)
    taken = np.zeros(len(r), bool)
    found = 0
    if len(r) and len(g):
        m = iou_matrix(g, r)
        for i in np.argsort(-np.asarray(got["conf"], np.float64), kind="stable"):
            j = int(np.argmax(np.where(taken, -1.0, m[i])))
            if not taken[j] and m[i, j] >= iou:
                taken[j] = True
                found += 1
    return {"found": found, "missed": len(r) - found, "invented": len(g) - found,
            "reference": len(r), "predicted": len(g)}


def match_persons(ref: dict, got: dict, iou: float = MATCH_IOU) -> dict:
    """Totals and per-image counts over every image of the reference ({name: {"xyxy", "conf"}})."""
    per = {name: match_image(ref[name], got.get(name, {"xyxy": [], "conf": []}), iou) for name in ref}
    totals = {k: sum(p[k] for p in per.values()) for k in ("found", "missed", "invented", "reference", "predicted")}
    return {**totals, "per_image": per}


def summary(m: dict | None) -> str:
    """'found/missed/invented' or an em dash."""
    return "—" if not m or "found" not in m else f"{m['found']}/{m['missed']}/{m['invented']}"
