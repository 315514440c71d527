"""One image's ground truth in pixels, and its predictions' true-positive flags (box and pose)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.dataset import Sample
from ..metrics.matching import OKS_AREA_FACTOR, box_iou, keypoint_oks, match_predictions
from ..predict.results import Results


@dataclass(frozen=True, eq=False)
class ImageStats:
    """Per prediction: tp_box / tp_pose (m, T), conf, cls; per GT: target_cls."""

    tp_box: np.ndarray
    tp_pose: np.ndarray
    conf: np.ndarray
    pred_cls: np.ndarray
    target_cls: np.ndarray


def ground_truth_pixels(sample: Sample, shape: tuple[int, int]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cls (n,), boxes xyxy (n, 4), keypoints (n, K, D)) in pixels of an image of `shape` (h, w)."""
    h, w = shape
    labels = sample.labels
    cx, cy, bw, bh = (labels.boxes.astype(np.float64) * [w, h, w, h]).T
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    kpts = labels.keypoints.astype(np.float64).copy()
    kpts[..., 0] *= w
    kpts[..., 1] *= h
    return labels.cls, boxes, kpts


def match_image(result: Results, sample: Sample, sigmas: np.ndarray) -> ImageStats:
    """Match one image's predictions to its ground truth (OKS area = GT box w*h*0.53)."""
    gt_cls, gt_boxes, gt_kpts = ground_truth_pixels(sample, result.orig_img.shape[:2])
    pred_cls = result.boxes.cls.astype(np.int64)
    iou = box_iou(gt_boxes, result.boxes.xyxy.astype(np.float64))
    areas = (gt_boxes[:, 2] - gt_boxes[:, 0]) * (gt_boxes[:, 3] - gt_boxes[:, 1]) * OKS_AREA_FACTOR
    oks = keypoint_oks(gt_kpts, result.keypoints.data, areas, sigmas)
    return ImageStats(match_predictions(pred_cls, gt_cls, iou), match_predictions(pred_cls, gt_cls, oks),
                      result.boxes.conf.astype(np.float64), pred_cls, gt_cls)
