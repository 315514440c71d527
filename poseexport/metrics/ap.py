"""Precision-recall curves, interpolated AP, and the max-F1 operating point.

Two AP conventions over 101 recall points (0, 0.01, ..., 1), both on the
monotone precision envelope (precision at recall r = best precision at any
recall >= r):

- "continuous" (the YOLO-style metric): sentinels (recall 0, precision 1) and
  (recall 1, precision 0) are added, the envelope is linearly interpolated at
  the 101 points and integrated with the trapezoid rule.
- "coco" (the COCO protocol): at each of the 101 points, the envelope value at
  the first operating point whose recall reaches it (0 where none does); AP is
  the mean of the 101 values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
CONF_GRID = np.linspace(0.0, 1.0, 1000)
F1_SMOOTH_FRACTION = 0.1  # width of the moving average over the confidence grid


def precision_envelope(precision: np.ndarray) -> np.ndarray:
    """Running maximum from the right: precision at recall r = best precision at recall >= r."""
    return np.flip(np.maximum.accumulate(np.flip(np.asarray(precision, dtype=np.float64))))


def interpolated_ap(recall: np.ndarray, precision: np.ndarray, method: str = "continuous"
                    ) -> tuple[float, np.ndarray]:
    """AP of one PR curve (operating points in score order) and the 101-point precision curve."""
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if method == "continuous":
        rec = np.concatenate([[0.0], recall, [1.0]])
        pre = precision_envelope(np.concatenate([[1.0], precision, [0.0]]))
        curve = np.interp(RECALL_POINTS, rec, pre)
        return float(np.trapezoid(curve, RECALL_POINTS)), curve
    if method == "coco":
        pre = precision_envelope(precision)
        idx = np.searchsorted(recall, RECALL_POINTS, side="left")
        curve = np.zeros_like(RECALL_POINTS)
        ok = idx < len(recall)
        curve[ok] = pre[idx[ok]]
        return float(curve.mean()), curve
    raise ValueError(f"unknown AP method {method!r}: use 'continuous' or 'coco'")


@dataclass(frozen=True, eq=False)
class ClassAP:
    """Per-class AP at each threshold and precision/recall at the max-F1 confidence.

    Rows are class indices 0..nc-1; classes without ground truth hold nan.
    `pr_curve` is (nc, 101): precision at RECALL_POINTS for the first threshold.
    """

    ap: np.ndarray  # (nc, T)
    p: np.ndarray  # (nc,)
    r: np.ndarray  # (nc,)
    f1: np.ndarray  # (nc,)
    best_conf: float
    pr_curve: np.ndarray  # (nc, 101)
    present: np.ndarray  # (nc,) bool: class has ground truth


def ap_per_class(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray,
                 nc: int, method: str = "continuous") -> ClassAP:
    """AP per class and threshold from (m, T) true-positive flags of all predictions."""
    tp = np.asarray(tp, dtype=bool)
    tp = tp[:, None] if tp.ndim == 1 else tp
    n_thr = tp.shape[1]
    order = np.argsort(-np.asarray(conf), kind="stable")
    tp, conf, pred_cls = tp[order], np.asarray(conf)[order], np.asarray(pred_cls)[order]
    counts = np.bincount(np.asarray(target_cls, dtype=np.int64), minlength=nc)[:nc]
    ap = np.full((nc, n_thr), np.nan)
    pr_curve = np.full((nc, len(RECALL_POINTS)), np.nan)
    p_grid = np.zeros((nc, len(CONF_GRID)))
    r_grid = np.zeros((nc, len(CONF_GRID)))
    for c in range(nc):
        if counts[c] == 0:
            continue
        mine = pred_cls == c
        if not mine.any():
            ap[c] = 0.0
            pr_curve[c] = 0.0
            continue
        ctp = np.cumsum(tp[mine], axis=0, dtype=np.float64)
        cfp = np.cumsum(~tp[mine], axis=0, dtype=np.float64)
        recall = ctp / counts[c]
        precision = ctp / (ctp + cfp)
        for t in range(n_thr):
            ap[c, t], curve = interpolated_ap(recall[:, t], precision[:, t], method)
            if t == 0:
                pr_curve[c] = curve
        # np.interp needs increasing x: walk the confidences from high to low
        r_grid[c] = np.interp(-CONF_GRID, -conf[mine], recall[:, 0], left=0.0)
        p_grid[c] = np.interp(-CONF_GRID, -conf[mine], precision[:, 0], left=1.0)
    present = counts > 0
    p, r, f1, best = _max_f1(p_grid, r_grid, present)
    return ClassAP(ap, p, r, f1, best, pr_curve, present)


def _max_f1(p_grid: np.ndarray, r_grid: np.ndarray, present: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """P, R, F1 per class at the confidence maximising the smoothed class-mean F1."""
    f1_grid = 2 * p_grid * r_grid / (p_grid + r_grid + 1e-16)
    if not present.any():
        zeros = np.zeros(len(present))
        return zeros, zeros, zeros, 0.0
    best = int(np.argmax(_smooth(f1_grid[present].mean(0), F1_SMOOTH_FRACTION)))
    nan_absent = np.where(present, 1.0, np.nan)
    return (p_grid[:, best] * nan_absent, r_grid[:, best] * nan_absent,
            f1_grid[:, best] * nan_absent, float(CONF_GRID[best]))


def _smooth(values: np.ndarray, fraction: float) -> np.ndarray:
    """Centred moving average over `fraction` of the samples, edges repeated."""
    width = round(len(values) * fraction) // 2 * 2 + 1
    half = width // 2
    padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
    return np.convolve(padded, np.ones(width) / width, mode="valid")
