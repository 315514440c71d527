"""In-graph NMS for export: raw predictions -> (B, max_det, 6 + K*D) fixed-size detections.

Rows are x1, y1, x2, y2 (letterboxed-input pixels), score, class, keypoints; rows past
the detections are zeros. Greedy NMS is written as a fixed-point iteration over a
score-ordered suppression matrix (export formats have no data-dependent loops): a
candidate is kept when no kept, higher-scoring candidate overlaps it by more than
`iou`. Each pass settles at least one more candidate in score order, so the result
equals sequential greedy NMS once the passes exceed the longest suppression chain.
"""
from __future__ import annotations

import torch
from torch import nn

MAX_CANDIDATES = 1000
FIXED_POINT_PASSES = 32


class NmsWrapper(nn.Module):
    def __init__(self, net: nn.Module, conf: float = 0.25, iou: float = 0.7, max_det: int = 300):
        super().__init__()
        self.net, self.conf, self.iou, self.max_det = net, conf, iou, max_det
        self.nc = net.nc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pred = self.net(x).transpose(1, 2)  # (B, N, C)
        b, n, c = pred.shape
        k = min(MAX_CANDIDATES, n)
        scores_all = pred[..., 4:4 + self.nc]
        scores, cls = scores_all.max(-1)
        top, idx = scores.topk(k, dim=1)  # sorted, descending
        cand = pred.gather(1, idx.unsqueeze(-1).expand(b, k, c))
        boxes = _xywh_to_xyxy(cand[..., :4])
        overlap = _pairwise_iou(boxes) > self.iou  # (B, k, k)
        earlier = torch.ones(k, k, dtype=torch.bool, device=x.device).tril(-1)  # j < i
        suppressors = overlap & earlier  # [i, j]: j outranks and overlaps i
        valid = top > self.conf
        keep = valid
        for _ in range(FIXED_POINT_PASSES):
            blocked = (suppressors & keep.unsqueeze(1)).any(-1)
            keep = valid & ~blocked
        ranked = torch.where(keep, top, torch.full_like(top, -1.0))
        order = ranked.argsort(dim=1, descending=True)[:, : self.max_det]
        chosen_keep = keep.gather(1, order).unsqueeze(-1).to(pred.dtype)
        pick = lambda t: t.gather(1, order.unsqueeze(-1).expand(b, order.shape[1], t.shape[-1]))  # noqa: E731
        rows = torch.cat((pick(boxes), pick(top.unsqueeze(-1)),
                          pick(cls.gather(1, idx).unsqueeze(-1).to(pred.dtype)),
                          pick(cand[..., 4 + self.nc:])), -1)
        rows = rows * chosen_keep
        if rows.shape[1] < self.max_det:  # fewer candidates than max_det: pad with zero rows
            pad = rows.new_zeros(b, self.max_det - rows.shape[1], rows.shape[2])
            rows = torch.cat((rows, pad), 1)
        return rows


def _xywh_to_xyxy(xywh: torch.Tensor) -> torch.Tensor:
    xy, wh = xywh[..., :2], xywh[..., 2:4] / 2
    return torch.cat((xy - wh, xy + wh), -1)


def _pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    a = boxes.unsqueeze(2)  # (B, k, 1, 4)
    b = boxes.unsqueeze(1)  # (B, 1, k, 4)
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (boxes[..., 2:] - boxes[..., :2]).clamp(min=0).prod(-1)
    return inter / (area.unsqueeze(2) + area.unsqueeze(1) - inter + 1e-9)
