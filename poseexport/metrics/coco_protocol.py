"""Our own implementation of the COCO evaluation protocol (keypoints and bbox).

It reads the COCO ground-truth JSON, so it sees what YOLO labels do not: crowd
regions and persons without labelled keypoints are "ignore" regions (a
detection matched to one is neither a true nor a false positive; crowds can be
matched many times), and OKS uses the annotation's `area` (the segmentation
area). Per image and category: detections by score (stable), at most
`max_dets` (20 for keypoints, 100 for boxes); for each threshold each detection
takes the best still-free GT with similarity >= threshold, preferring non-ignored
GT. Precision is then summarised with the "coco" 101-point rule (see `ap.py`).
Meant to agree with pycocotools / faster-coco-eval to float precision.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .ap import interpolated_ap
from .matching import IOU_THRESHOLDS, default_sigmas

MAX_DETS = {"keypoints": 20, "bbox": 100}


@dataclass(frozen=True)
class CocoAP:
    """AP over thresholds 0.50:0.95 and at 0.50 / 0.75 (means over categories)."""

    ap: float
    ap50: float
    ap75: float


def coco_protocol_ap(gt: Mapping, results: Sequence[Mapping], iou_type: str = "keypoints",
                     img_ids: Sequence[int] | None = None, sigmas: np.ndarray | None = None,
                     max_dets: int | None = None) -> CocoAP:
    """COCO AP of `results` (COCO results dicts) against the COCO ground-truth dict `gt`."""
    if iou_type not in MAX_DETS:
        raise ValueError(f"iou_type must be 'keypoints' or 'bbox', not {iou_type!r}")
    max_dets = max_dets or MAX_DETS[iou_type]
    img_ids = sorted(set(img_ids) if img_ids is not None else {im["id"] for im in gt["images"]})
    cat_ids = sorted(c["id"] for c in gt["categories"])
    gts, dts = _group(gt["annotations"]), _group(results)
    per_cat = []
    for cat in cat_ids:
        scores, matched, ignored, n_gt = [], [], [], 0
        for img in img_ids:
            g, d = gts.get((img, cat), []), dts.get((img, cat), [])
            if not g and not d:
                continue
            s, m, i, n = _evaluate_image(g, d, iou_type, sigmas, max_dets)
            scores.append(s), matched.append(m), ignored.append(i)
            n_gt += n
        if n_gt == 0:
            continue  # COCO leaves categories without GT out of the mean
        per_cat.append(_accumulate(scores, matched, ignored, n_gt))
    if not per_cat:
        return CocoAP(float("nan"), float("nan"), float("nan"))
    ap = np.mean(per_cat, axis=0)  # (T,)
    return CocoAP(float(ap.mean()), float(ap[0]), float(ap[5]))


def _group(annotations: Sequence[Mapping]) -> dict[tuple, list]:
    out: dict[tuple, list] = {}
    for ann in annotations:
        out.setdefault((ann["image_id"], ann["category_id"]), []).append(ann)
    return out


def _evaluate_image(gts: list, dts: list, iou_type: str, sigmas, max_dets: int):
    ignore = np.array([bool(g.get("ignore", 0) or g.get("iscrowd", 0)
                            or (iou_type == "keypoints" and g.get("num_keypoints", 0) == 0))
                       for g in gts], dtype=bool)
    g_order = np.argsort(ignore, kind="mergesort")  # non-ignored GT first
    gts = [gts[i] for i in g_order]
    ignore = ignore[g_order]
    crowd = np.array([bool(g.get("iscrowd", 0)) for g in gts], dtype=bool)
    d_order = np.argsort([-d["score"] for d in dts], kind="mergesort")[:max_dets]
    dts = [dts[i] for i in d_order]
    sim = _oks(gts, dts, sigmas) if iou_type == "keypoints" else _bbox_iou(gts, dts, crowd)
    n_thr = len(IOU_THRESHOLDS)
    matched = np.zeros((n_thr, len(dts)), dtype=bool)
    dt_ignored = np.zeros((n_thr, len(dts)), dtype=bool)
    for t, threshold in enumerate(IOU_THRESHOLDS):
        gt_taken = np.zeros(len(gts), dtype=bool)
        for j in range(len(dts)):
            best, m = min(threshold, 1 - 1e-10), -1
            for i in range(len(gts)):
                if gt_taken[i] and not crowd[i]:
                    continue
                if m > -1 and not ignore[m] and ignore[i]:
                    break  # a real match beats any ignore region that follows
                if sim[j, i] < best:
                    continue
                best, m = sim[j, i], i
            if m == -1:
                continue
            gt_taken[m] = True
            matched[t, j] = True
            dt_ignored[t, j] = ignore[m]
    scores = np.array([d["score"] for d in dts], dtype=np.float64)
    return scores, matched, dt_ignored, int((~ignore).sum())


def _accumulate(scores: list, matched: list, ignored: list, n_gt: int) -> np.ndarray:
    scores = np.concatenate(scores)
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate(matched, axis=1)[:, order]
    ignored = np.concatenate(ignored, axis=1)[:, order]
    tp = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
    fp = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
    ap = np.zeros(len(IOU_THRESHOLDS))
    for t in range(len(IOU_THRESHOLDS)):
        recall = tp[t] / n_gt
        precision = tp[t] / (tp[t] + fp[t] + np.spacing(1))
        ap[t] = interpolated_ap(recall, precision, method="coco")[0]
    return ap


def _oks(gts: list, dts: list, sigmas) -> np.ndarray:
    """(n_dt, n_gt) OKS as COCO defines it (GT without keypoints: distance outside 3x its box)."""
    out = np.zeros((len(dts), len(gts)))
    if not gts or not dts:
        return out
    dk = np.array([d["keypoints"] for d in dts], dtype=np.float64).reshape(len(dts), -1, 3)
    k = dk.shape[1]
    var = (2 * np.asarray(sigmas if sigmas is not None else default_sigmas(k), dtype=np.float64)) ** 2
    for i, g in enumerate(gts):
        gk = np.asarray(g["keypoints"], dtype=np.float64).reshape(-1, 3)
        visible = gk[:, 2] > 0
        if visible.any():
            dx, dy = dk[:, :, 0] - gk[:, 0], dk[:, :, 1] - gk[:, 1]
        else:
            x, y, w, h = g["bbox"]
            x0, x1, y0, y1 = x - w, x + 2 * w, y - h, y + 2 * h
            dx = np.maximum(0, x0 - dk[:, :, 0]) + np.maximum(0, dk[:, :, 0] - x1)
            dy = np.maximum(0, y0 - dk[:, :, 1]) + np.maximum(0, dk[:, :, 1] - y1)
        e = (dx ** 2 + dy ** 2) / var / (g["area"] + np.spacing(1)) / 2
        if visible.any():
            e = e[:, visible]
        out[:, i] = np.exp(-e).sum(1) / e.shape[1]
    return out


def _bbox_iou(gts: list, dts: list, crowd: np.ndarray) -> np.ndarray:
    """(n_dt, n_gt) IoU of [x, y, w, h] boxes; for crowd GT, intersection / detection area."""
    if not gts or not dts:
        return np.zeros((len(dts), len(gts)))
    d = np.array([x["bbox"] for x in dts], dtype=np.float64)
    g = np.array([x["bbox"] for x in gts], dtype=np.float64)
    iw = np.minimum(d[:, None, 0] + d[:, None, 2], g[None, :, 0] + g[None, :, 2]) \
        - np.maximum(d[:, None, 0], g[None, :, 0])
    ih = np.minimum(d[:, None, 1] + d[:, None, 3], g[None, :, 1] + g[None, :, 3]) \
        - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_d = (d[:, 2] * d[:, 3])[:, None]
    union = np.where(crowd[None, :], area_d, area_d + (g[:, 2] * g[:, 3])[None, :] - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
