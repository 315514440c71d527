"""Similarity matrices (box IoU, keypoint OKS) and per-threshold true-positive matching.

OKS convention (the YOLO-style metric): for a ground-truth person with box w x h
in original-image pixels, area = w * h * 0.53 (0.53 approximates the ratio of a
person's segmentation area to its box area, since YOLO labels carry no mask);
OKS = mean over the GT's labelled keypoints of exp(-d^2 / (2 * area * (2 sigma)^2)).
A keypoint is labelled when v > 0 (layouts with 3 values) or when it is not at
(0, 0) (layouts with 2 values). A GT without labelled keypoints has OKS 0.
"""
from __future__ import annotations

import numpy as np

from ..predict.nms import box_iou

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # 0.50:0.05:0.95
OKS_AREA_FACTOR = 0.53
COCO_KPT_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                            1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0

__all__ = ["COCO_KPT_SIGMAS", "IOU_THRESHOLDS", "OKS_AREA_FACTOR", "box_iou", "default_sigmas",
           "keypoint_oks", "labelled_mask", "match_predictions"]


def default_sigmas(num_keypoints: int) -> np.ndarray:
    """COCO's per-keypoint sigmas for 17 keypoints, else equal sigmas 1/K."""
    if num_keypoints == 17:
        return COCO_KPT_SIGMAS.copy()
    return np.full(num_keypoints, 1.0 / num_keypoints)


def labelled_mask(gt_kpts: np.ndarray) -> np.ndarray:
    """(n, K) True where a GT keypoint is labelled (see the module docstring)."""
    if gt_kpts.shape[-1] >= 3:
        return gt_kpts[..., 2] > 0
    return (gt_kpts[..., 0] != 0) | (gt_kpts[..., 1] != 0)


def keypoint_oks(gt_kpts: np.ndarray, pred_kpts: np.ndarray, areas: np.ndarray,
                 sigmas: np.ndarray) -> np.ndarray:
    """OKS of every (GT, prediction) pair: (n, K, D) x (m, K, >=2) with (n,) areas -> (n, m)."""
    gt_kpts = np.asarray(gt_kpts, dtype=np.float64)
    pred_kpts = np.asarray(pred_kpts, dtype=np.float64)
    if len(gt_kpts) == 0 or len(pred_kpts) == 0:
        return np.zeros((len(gt_kpts), len(pred_kpts)))
    d2 = ((gt_kpts[:, None, :, :2] - pred_kpts[None, :, :, :2]) ** 2).sum(-1)  # (n, m, K)
    denom = 2.0 * (np.asarray(areas, dtype=np.float64)[:, None, None] + np.finfo(float).eps) \
        * (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2
    mask = labelled_mask(gt_kpts)[:, None, :]
    labelled = mask.sum(-1)
    total = (np.exp(-d2 / denom) * mask).sum(-1)
    return np.divide(total, labelled, out=np.zeros_like(total), where=labelled > 0)


def match_predictions(pred_cls: np.ndarray, gt_cls: np.ndarray, similarity: np.ndarray,
                      thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """(m, T) bool: is prediction j a true positive at threshold t?

    `similarity` is (n_gt, m_pred) IoU or OKS; predictions must come in descending
    score order (as NMS returns them). For each threshold: every prediction picks
    the same-class GT it overlaps most, if that similarity is >= t; each GT is then
    credited to the FIRST (highest-scoring) prediction that picked it, and the
    other predictions that picked it are false positives. This is the YOLO-style
    rule; note that it is not COCO's (see `coco_protocol.py`), where a prediction
    that loses its best GT may still take its second best.
    """
    m = len(pred_cls)
    tp = np.zeros((m, len(thresholds)), dtype=bool)
    if m == 0 or len(gt_cls) == 0:
        return tp
    same = np.asarray(gt_cls)[:, None] == np.asarray(pred_cls)[None, :]
    sim = np.where(same, similarity, -1.0)
    best_gt = sim.argmax(0)  # (m,) ties: lowest GT index
    best = sim[best_gt, np.arange(m)]
    for t, threshold in enumerate(thresholds):
        candidates = np.flatnonzero(best >= threshold)
        # np.unique's return_index gives each GT's first (highest-scoring) candidate
        _, first = np.unique(best_gt[candidates], return_index=True)
        tp[candidates[first], t] = True
    return tp
