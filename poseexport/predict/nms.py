"""Confidence filtering and greedy non-maximum suppression, in numpy.

Numpy rather than torch so every runtime (PyTorch, ONNX Runtime, OpenVINO...)
shares exactly the same post-processing.
"""
from __future__ import annotations

import numpy as np

from ..errors import BadInputError

MAX_WH = 7680.0  # class offset for class-aware NMS: larger than any input side


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) centre x, y, width, height -> corners x1, y1, x2, y2."""
    out = np.empty_like(boxes)
    half_w, half_h = boxes[..., 2] / 2, boxes[..., 3] / 2
    out[..., 0] = boxes[..., 0] - half_w
    out[..., 1] = boxes[..., 1] - half_h
    out[..., 2] = boxes[..., 0] + half_w
    out[..., 3] = boxes[..., 1] + half_h
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of xyxy boxes: (n, 4) x (m, 4) -> (n, m). Empty boxes give 0."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms_indices(boxes: np.ndarray, scores: np.ndarray, iou: float, max_keep: int | None = None
                ) -> np.ndarray:
    """Greedy NMS: indices of kept boxes, best score first.

    A box is dropped when its IoU with an already kept, higher-scoring box is
    strictly above `iou`. Stopping after `max_keep` kept boxes gives the same
    result as truncating afterwards, because boxes are decided in score order.
    """
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if max_keep is not None and len(keep) >= max_keep:
            break
        rest = order[1:]
        overlap = box_iou(boxes[best:best + 1], boxes[rest])[0]
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def non_max_suppression(pred: np.ndarray, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                        nc: int = 1, max_candidates: int = 30000, agnostic: bool = True,
                        rank: np.ndarray | None = None) -> list[np.ndarray]:
    """Decode raw pose-model output into detections, one array per image.

    `pred` is (B, 4 + nc + nk, N): box cx, cy, w, h in letterboxed pixels, nc class
    scores (already sigmoided), nk keypoint values. Returns per image an array
    (n, 6 + nk): x1, y1, x2, y2, score, class, keypoints..., best score first,
    n <= max_det. NMS is class-agnostic unless `agnostic=False`. `rank` (B, N), when given,
    orders the candidates instead of their scores (validation breaks near-ties the reference's way).
    """
    if pred.ndim != 3 or pred.shape[1] < 4 + nc:
        raise BadInputError(f"Cannot run NMS on a prediction of shape {tuple(pred.shape)}",
                            f"expected (batch, 4 + nc + keypoint values, anchors) with nc={nc}",
                            "pass the raw output of the pose head and the model's class count")
    pred = pred.astype(np.float32, copy=False)
    results = []
    for i, image_pred in enumerate(pred):
        x = image_pred.T  # (N, C): one row per anchor
        class_scores = x[:, 4:4 + nc]
        cls = class_scores.argmax(1)
        score = class_scores[np.arange(len(x)), cls]
        keep = score > conf
        x, cls, score = x[keep], cls[keep], score[keep]
        order = score if rank is None else np.asarray(rank[i], np.float32)[keep]
        if len(x) > max_candidates:
            top = np.argsort(-order, kind="stable")[:max_candidates]
            x, cls, score, order = x[top], cls[top], score[top], order[top]
        boxes = xywh_to_xyxy(x[:, :4])
        det = np.concatenate([boxes, score[:, None], cls[:, None].astype(np.float32),
                              x[:, 4 + nc:]], axis=1)
        # Shifting each class far apart makes one class-agnostic pass class-aware.
        nms_boxes = boxes if agnostic else boxes + cls[:, None].astype(np.float32) * MAX_WH
        kept = nms_indices(nms_boxes, order, iou, max_det)
        results.append(np.ascontiguousarray(det[kept]))
    return results
