"""Task-aligned assignment of anchors to ground-truth objects (TOOD, Feng et al. 2021).

For every ground truth (GT) the candidates are the anchors whose centre lies inside its
box. Each candidate gets the alignment metric `score^alpha * CIoU^beta` (score: the
predicted probability of the GT's class, CIoU clamped at 0); the `topk` candidates with
the highest metric become positives, but never one with a metric of 0 (its predicted box
does not overlap the GT at all), so a GT may get fewer than `topk` positives, or none
while no prediction overlaps it. An anchor chosen by several GTs keeps the one
whose box its prediction overlaps most (highest CIoU among those GTs). The positive's
classification target is then the metric normalised per GT so that the GT's best
anchor gets the GT's best overlap: `t = metric * max_overlap / max_metric`.

Boxes narrower or lower than `min_box_side` (in box units; 0 = off) are widened to
that size about their centre for the inside-the-box test only, so that tiny objects
still own an anchor; `PoseLoss` passes the middle stride (16 px for strides 8/16/32).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .box_ops import ciou, cxcywh_to_xyxy, xyxy_to_cxcywh

EPS = 1e-9


@dataclass(frozen=True)
class Assignment:
    """Per anchor: is it a positive, which GT (index into the image's GT slots), and its targets."""

    fg_mask: torch.Tensor  # (B, A) bool
    gt_index: torch.Tensor  # (B, A) long; 0 on background anchors (ignore there)
    target_labels: torch.Tensor  # (B, A) long
    target_boxes: torch.Tensor  # (B, A, 4) xyxy, in the units of the GT boxes
    target_scores: torch.Tensor  # (B, A, nc), zero on background


class TaskAlignedAssigner:
    """Assign anchors to GTs; see the module docstring for the rule."""

    def __init__(self, num_classes: int, topk: int = 10, alpha: float = 0.5, beta: float = 6.0,
                 min_box_side: float = 0.0):
        self.num_classes = num_classes
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.min_box_side = min_box_side

    @torch.no_grad()
    def __call__(self, pred_scores: torch.Tensor, pred_boxes: torch.Tensor, anchors: torch.Tensor,
                 gt_labels: torch.Tensor, gt_boxes: torch.Tensor, gt_valid: torch.Tensor) -> Assignment:
        """pred_scores (B, A, nc) probabilities, pred_boxes (B, A, 4) xyxy, anchors (A, 2),
        gt_labels (B, M) class ids, gt_boxes (B, M, 4) xyxy, gt_valid (B, M) bool (padding is False).
        Boxes and anchors in the same units (pixels)."""
        b, a, _ = pred_scores.shape
        m = gt_boxes.shape[1]
        if m == 0 or not bool(gt_valid.any()):
            return self._background(b, a, pred_scores, pred_boxes)
        gt_labels = gt_labels.long()

        candidate = self._inside(anchors, gt_boxes) & gt_valid.unsqueeze(-1)  # (B, M, A)
        overlaps, metric = self._metrics(pred_scores, pred_boxes, gt_labels, gt_boxes, candidate)
        positive = self._top_candidates(metric, candidate)
        positive = self._resolve_conflicts(positive, overlaps)

        fg_mask = positive.any(1)  # (B, A)
        gt_index = positive.to(torch.uint8).argmax(1)  # (B, A)
        target_labels = gt_labels.gather(1, gt_index)
        target_boxes = gt_boxes.gather(1, gt_index.unsqueeze(-1).expand(-1, -1, 4))

        metric = metric * positive
        overlaps = overlaps * positive
        best_metric = metric.amax(-1, keepdim=True)  # (B, M, 1)
        best_overlap = overlaps.amax(-1, keepdim=True)
        norm = (metric * best_overlap / (best_metric + EPS)).amax(1)  # (B, A)
        target_scores = torch.zeros_like(pred_scores)
        target_scores.scatter_(-1, target_labels.unsqueeze(-1), (norm * fg_mask).unsqueeze(-1)
                               .to(target_scores.dtype))
        return Assignment(fg_mask, gt_index, target_labels, target_boxes, target_scores)

    def _inside(self, anchors: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
        """(B, M, A): anchor centre strictly inside the (possibly widened) GT box."""
        if self.min_box_side:
            cxcywh = xyxy_to_cxcywh(gt_boxes)
            cxcywh = torch.cat((cxcywh[..., :2], cxcywh[..., 2:].clamp(min=self.min_box_side)), -1)
            gt_boxes = cxcywh_to_xyxy(cxcywh)
        x, y = anchors[:, 0], anchors[:, 1]
        x1, y1, x2, y2 = (gt_boxes[..., i:i + 1] for i in range(4))
        return (x - x1 > EPS) & (y - y1 > EPS) & (x2 - x > EPS) & (y2 - y > EPS)

    def _metrics(self, pred_scores, pred_boxes, gt_labels, gt_boxes, candidate):
        """CIoU (clamped at 0) and alignment metric on candidate pairs, 0 elsewhere; (B, M, A) each."""
        bi, mi, ai = candidate.nonzero(as_tuple=True)
        overlaps = torch.zeros(candidate.shape, dtype=pred_boxes.dtype, device=pred_boxes.device)
        metric = torch.zeros(candidate.shape, dtype=pred_scores.dtype, device=pred_scores.device)
        pair_overlap = ciou(gt_boxes[bi, mi], pred_boxes[bi, ai]).clamp(min=0)
        pair_score = pred_scores[bi, ai, gt_labels[bi, mi]]
        overlaps[bi, mi, ai] = pair_overlap.to(overlaps.dtype)
        metric[bi, mi, ai] = (pair_score.pow(self.alpha) * pair_overlap.pow(self.beta)).to(metric.dtype)
        return overlaps, metric

    def _top_candidates(self, metric: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """(B, M, A) bool: each GT's `topk` candidates by metric, only those with a metric above 0."""
        k = min(self.topk, metric.shape[-1])
        top = metric.topk(k, dim=-1).indices
        chosen = torch.zeros_like(candidate)
        chosen.scatter_(-1, top, True)
        # a zero metric (the predicted box does not overlap the GT) is no evidence for the anchor;
        # requiring > 0 also makes the choice independent of how topk breaks ties between zeros
        return chosen & candidate & (metric > 0)

    @staticmethod
    def _resolve_conflicts(positive: torch.Tensor, overlaps: torch.Tensor) -> torch.Tensor:
        """An anchor positive for several GTs keeps only the GT it overlaps most."""
        shared = positive.sum(1, keepdim=True) > 1  # (B, 1, A)
        if not bool(shared.any()):
            return positive
        best = torch.where(positive, overlaps, torch.full_like(overlaps, -1.0)).argmax(1, keepdim=True)
        only_best = torch.zeros_like(positive).scatter_(1, best, True)
        return torch.where(shared, only_best, positive)

    def _background(self, b: int, a: int, pred_scores: torch.Tensor, pred_boxes: torch.Tensor
                    ) -> Assignment:
        device = pred_scores.device
        return Assignment(torch.zeros(b, a, dtype=torch.bool, device=device),
                          torch.zeros(b, a, dtype=torch.long, device=device),
                          torch.zeros(b, a, dtype=torch.long, device=device),
                          torch.zeros_like(pred_boxes), torch.zeros_like(pred_scores))
