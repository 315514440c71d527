"""Box utilities of the training loss: format changes, CIoU, and box <-> DFL distances.

All boxes are (..., 4) tensors; `xyxy` is x1, y1, x2, y2 and `cxcywh` is centre + size.
"""
from __future__ import annotations

import math

import torch

EPS = 1e-7


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    c, wh = boxes[..., :2], boxes[..., 2:]
    return torch.cat((c - wh / 2, c + wh / 2), -1)


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    a, b = boxes[..., :2], boxes[..., 2:]
    return torch.cat(((a + b) / 2, b - a), -1)


def ciou(box1: torch.Tensor, box2: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Complete IoU of xyxy boxes, element-wise with broadcasting; (..., 4) -> (...).

    CIoU = IoU - centre_distance^2 / enclosing_diagonal^2 - alpha * v, with
    v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2 and alpha = v / (1 - IoU + v) (Zheng et al.
    2020). alpha is a trade-off weight and carries no gradient, as in the paper's code.
    Identical boxes give 1; it lies in (-1.5, 1].
    """
    x11, y11, x12, y12 = box1.unbind(-1)
    x21, y21, x22, y22 = box2.unbind(-1)
    w1, h1 = x12 - x11, y12 - y11 + eps
    w2, h2 = x22 - x21, y22 - y21 + eps
    inter = (torch.minimum(x12, x22) - torch.maximum(x11, x21)).clamp(min=0) * (
        torch.minimum(y12, y22) - torch.maximum(y11, y21)).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    enclose_w = torch.maximum(x12, x22) - torch.minimum(x11, x21)
    enclose_h = torch.maximum(y12, y22) - torch.minimum(y11, y21)
    diagonal2 = enclose_w.pow(2) + enclose_h.pow(2) + eps
    centre2 = ((x21 + x22 - x11 - x12).pow(2) + (y21 + y22 - y11 - y12).pow(2)) / 4
    v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return iou - (centre2 / diagonal2 + alpha * v)


def boxes_to_distances(anchors: torch.Tensor, boxes: torch.Tensor, max_distance: float) -> torch.Tensor:
    """Left, top, right, bottom distances from anchor points to xyxy boxes, clamped to [0, max_distance).

    The upper clamp is `max_distance - 0.01` so that a target always has a right-hand
    neighbour bin in the distribution focal loss.
    """
    lt = anchors - boxes[..., :2]
    rb = boxes[..., 2:] - anchors
    return torch.cat((lt, rb), -1).clamp(0, max_distance - 0.01)


def distances_to_xyxy(distances: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """(..., 4) ltrb distances around (..., 2) anchor points -> xyxy boxes."""
    return torch.cat((anchors - distances[..., :2], anchors + distances[..., 2:]), -1)


def expected_distances(logits: torch.Tensor, bins: int) -> torch.Tensor:
    """(B, A, 4 * bins) DFL logits (side-major) -> (B, A, 4) expected distances in bins."""
    b, a, _ = logits.shape
    probs = logits.view(b, a, 4, bins).softmax(-1)
    return probs @ torch.arange(bins, dtype=probs.dtype, device=probs.device)


def distribution_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DFL (Li et al. 2020): (n, bins) logits, (n,) continuous targets in [0, bins - 1) -> (n,).

    Cross-entropy towards the two bins around the target, weighted by linear
    interpolation: a target of 3.25 puts weight 0.75 on bin 3 and 0.25 on bin 4. Its
    minimum over the logits is the entropy of that two-bin distribution (0 at an
    integer target).
    """
    left = target.long()
    w_right = target - left
    logp = torch.log_softmax(logits, -1)
    lp_left = logp.gather(-1, left.unsqueeze(-1)).squeeze(-1)
    lp_right = logp.gather(-1, (left + 1).clamp(max=logits.shape[-1] - 1).unsqueeze(-1)).squeeze(-1)
    return -(lp_left * (1 - w_right) + lp_right * w_right)
