"""Compare an artifact's outputs with the PyTorch reference on fixed real images.

Raw tensors are compared per output group (box, score, keypoint xy, visibility) on
the anchors that matter (reference score >= RELEVANT_SCORE; elsewhere the outputs are
never used), then both outputs are decoded with the same NMS and the persons are
matched one to one (IoU >= 0.5) to measure keypoint error in pixels and score drift.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..predict.nms import box_iou, non_max_suppression

RELEVANT_SCORE = 0.05
DETECT_CONF = 0.25
MATCH_IOU = 0.5


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    passed: bool
    unit: str = ""


@dataclass(frozen=True)
class ParityReport:
    precision: str
    images: int
    checks: tuple[Check, ...]
    stats: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "precision": self.precision, "images": self.images,
                "checks": [asdict(c) for c in self.checks], "stats": self.stats}

    def table(self) -> str:
        rows = [f"  {'✓' if c.passed else '✗'} {c.name:<28} {c.value:>10.4g} {c.unit:<3} "
                f"(limit {c.limit:g})" for c in self.checks]
        verdict = "PASSED" if self.passed else "FAILED"
        return "\n".join([f"validation ({self.precision}, {self.images} real images): {verdict}"] + rows)


def compare_outputs(ours: np.ndarray, ref: np.ndarray, nc: int, kpt_shape: tuple[int, int],
                    tolerance, precision: str) -> ParityReport:
    """Raw (R, 4+nc+K*D, N) outputs of the artifact vs the reference."""
    k, d = kpt_shape
    ours, ref = ours.astype(np.float64), ref.astype(np.float64)
    ref_score = ref[:, 4:4 + nc].max(1)  # (R, N)
    relevant = ref_score >= RELEVANT_SCORE  # anchors whose outputs can reach a detection
    diff = np.abs(ours - ref)
    kpt = diff[:, 4 + nc:].reshape(len(ref), k, d, -1)
    groups = {
        "box": diff[:, :4].max(1),
        "score": diff[:, 4:4 + nc].max(1),
        "kpt_xy": kpt[:, :, :2].max((1, 2)),
    }
    if d == 3:
        groups["kpt_visibility"] = kpt[:, :, 2].max(1)
    stats = {f"{g}_max_all": float(v.max()) for g, v in groups.items()}
    stats.update({f"{g}_max": float(v[relevant].max()) if relevant.any() else 0.0
                  for g, v in groups.items()})
    stats.update({f"{g}_mean": float(v[relevant].mean()) if relevant.any() else 0.0
                  for g, v in groups.items()})
    det = _detection_parity(ours, ref, nc, kpt_shape)
    stats.update(det)
    score_check = () if tolerance.score is None else (
        Check("score max error", stats["score_max_all"], tolerance.score,
              stats["score_max_all"] <= tolerance.score),)
    checks = (
        Check("box max error", stats["box_max"], tolerance.box_px, stats["box_max"] <= tolerance.box_px, "px"),
        *score_check,
        Check("keypoint max error", stats["kpt_xy_max"], tolerance.kpt_px,
              stats["kpt_xy_max"] <= tolerance.kpt_px, "px"),
        Check("persons matched", det["match_ratio"], tolerance.min_match_ratio,
              det["match_ratio"] >= tolerance.min_match_ratio),
        Check("matched keypoint mean error", det["kpt_px_mean"], tolerance.matched_kpt_px,
              det["kpt_px_mean"] <= tolerance.matched_kpt_px, "px"),
        Check("matched score drift", det["score_drift_max"], tolerance.score_drift,
              det["score_drift_max"] <= tolerance.score_drift),
    )
    return ParityReport(precision=precision, images=len(ref), checks=checks, stats=stats)


def compare_nms_outputs(ours: np.ndarray, ref: np.ndarray, kpt_shape: tuple[int, int], tolerance,
                        precision: str) -> ParityReport:
    """In-graph NMS outputs (R, max_det, 6+K*D): the same persons, boxes and keypoints."""
    ref_dets = [r[r[:, 4] > 0] for r in ref.astype(np.float32)]
    our_dets = [o[o[:, 4] > 0] for o in ours.astype(np.float32)]
    det = _match_detections(our_dets, ref_dets, kpt_shape)
    checks = (
        Check("persons matched", det["match_ratio"], tolerance.min_match_ratio,
              det["match_ratio"] >= tolerance.min_match_ratio),
        Check("extra persons", det["persons_extra"], 0, det["persons_extra"] <= max(
            0, round((1 - tolerance.min_match_ratio) * det["persons_reference"]))),
        Check("matched box max error", det["box_px_max"], tolerance.box_px,
              det["box_px_max"] <= tolerance.box_px, "px"),
        Check("matched keypoint mean error", det["kpt_px_mean"], tolerance.matched_kpt_px,
              det["kpt_px_mean"] <= tolerance.matched_kpt_px, "px"),
        Check("matched score drift", det["score_drift_max"], tolerance.score_drift,
              det["score_drift_max"] <= tolerance.score_drift),
    )
    return ParityReport(precision=precision, images=len(ref), checks=checks, stats=det)


def _detection_parity(ours: np.ndarray, ref: np.ndarray, nc: int, kpt_shape) -> dict:
    ref_dets = non_max_suppression(ref.astype(np.float32), conf=DETECT_CONF, nc=nc)
    our_dets = non_max_suppression(ours.astype(np.float32), conf=DETECT_CONF, nc=nc)
    return _match_detections(our_dets, ref_dets, kpt_shape)


def _match_detections(our_dets: list, ref_dets: list, kpt_shape) -> dict:
    """Greedy one-to-one matching (IoU >= 0.5) of decoded persons, reference order by score."""
    k, d = kpt_shape
    box_errors = [0.0]
    total, matched, kpt_errors, drifts, extra = 0, 0, [], [], 0
    for a, b in zip(our_dets, ref_dets):
        total += len(b)
        extra += max(0, len(a) - len(b))
        if not len(a) or not len(b):
            continue
        iou = box_iou(b[:, :4], a[:, :4])
        used = set()
        for i in range(len(b)):  # reference persons in score order
            order = [j for j in np.argsort(-iou[i]) if j not in used and iou[i, j] >= MATCH_IOU]
            if not order:
                continue
            j = order[0]
            used.add(j)
            matched += 1
            box_errors.append(float(np.abs(a[j, :4] - b[i, :4]).max()))
            kb, ka = b[i, 6:].reshape(k, d), a[j, 6:].reshape(k, d)
            visible = kb[:, 2] >= 0.5 if d == 3 else np.ones(k, bool)
            if visible.any():
                kpt_errors.append(np.linalg.norm(ka[visible, :2] - kb[visible, :2], axis=1))
            drifts.append(abs(float(a[j, 4] - b[i, 4])))
    errs = np.concatenate(kpt_errors) if kpt_errors else np.zeros(1)
    return {"persons_reference": total, "persons_matched": matched, "persons_extra": extra,
            "match_ratio": matched / total if total else 1.0,
            "kpt_px_mean": float(errs.mean()), "kpt_px_max": float(errs.max()),
            "box_px_max": max(box_errors),
            "score_drift_max": float(max(drifts) if drifts else 0.0)}


def run_each(runner, inputs: np.ndarray) -> np.ndarray:
    """The runner's output for each input image, one image per call (repeated to fill a
    static batch), so every format is compared on exactly the same calls."""
    batch = runner.batch or 1
    return np.concatenate([np.asarray(runner.infer(np.repeat(inputs[i:i + 1], batch, axis=0)))[:1]
                           for i in range(len(inputs))]).astype(np.float32)


def validate_runner(runner, traced, tolerance, precision: str) -> ParityReport:
    """Run the artifact on the traced model's reference inputs and compare."""
    ours = run_each(runner, traced.reference_inputs)
    nc = len(traced.facts.names)
    if traced.output_spec.kind == "nms":
        return compare_nms_outputs(ours, traced.reference_outputs, tuple(traced.facts.kpt_shape),
                                   tolerance, precision)
    return compare_outputs(ours, traced.reference_outputs, nc, tuple(traced.facts.kpt_shape),
                           tolerance, precision)


__all__ = ["Check", "ParityReport", "compare_outputs", "run_each", "validate_runner"]
