"""The pose head: box (DFL distributions), class scores and keypoints at three strides.

In training mode it returns the raw per-level maps for the loss; in eval mode it
decodes them into one tensor (B, 4 + nc + K*D, N): box cx, cy, w, h in input pixels,
sigmoid class scores, then per keypoint x, y (pixels) and, when D == 3, a sigmoid
visibility score. N is the number of anchor points over all levels.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .conv import Conv, DWConv

REG_MAX = 16  # bins of the distribution-focal box regression


class DFL(nn.Module):
    """Expected value of a softmax over `bins` distance bins (a fixed 1x1 conv with weights 0..bins-1)."""

    def __init__(self, bins: int = REG_MAX):
        super().__init__()
        self.bins = bins
        self.conv = nn.Conv2d(bins, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(bins, dtype=torch.float).view(1, bins, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape  # (B, 4 * bins, A)
        probs = x.view(b, 4, self.bins, a).transpose(2, 1).softmax(1)
        return self.conv(probs).view(b, 4, a)


def make_anchors(feats: list[torch.Tensor], strides: torch.Tensor, offset: float = 0.5
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres (A, 2) in grid units and the stride of each anchor (A, 1)."""
    points, stride_list = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for feat, stride in zip(feats, strides):
        h, w = feat.shape[2:]
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        gy, gx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((gx, gy), -1).view(-1, 2))
        # multiply by the 0-d stride tensor (not float(stride)): keeps torch.export data-independent
        stride_list.append(torch.ones((h * w, 1), dtype=dtype, device=device) * stride.to(dtype))
    return torch.cat(points), torch.cat(stride_list)


def distances_to_boxes(distance: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """(B, 4, A) left/top/right/bottom distances + (1, 2, A) anchors -> (B, 4, A) cx, cy, w, h."""
    lt, rb = distance.chunk(2, 1)
    x1y1 = anchors - lt
    x2y2 = anchors + rb
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1)


class PoseHead(nn.Module):
    """Decoupled detection head with an extra keypoint branch (`cv4`)."""

    def __init__(self, nc: int, kpt_shape: tuple[int, int], channels: list[int],
                 legacy: bool = False):
        super().__init__()
        self.nc = nc
        self.kpt_shape = tuple(kpt_shape)
        self.nk = self.kpt_shape[0] * self.kpt_shape[1]
        self.nl = len(channels)
        self.reg_max = REG_MAX
        self.no = nc + 4 * REG_MAX
        self.register_buffer("stride", torch.zeros(self.nl), persistent=False)
        self.raw_maps = False  # True in a `--decode host` export: forward returns level_maps
        c_box = max(16, channels[0] // 4, 4 * REG_MAX)
        c_cls = max(channels[0], min(nc, 100))
        c_kpt = max(channels[0] // 4, self.nk)
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(c, c_box, 3), Conv(c_box, c_box, 3), nn.Conv2d(c_box, 4 * REG_MAX, 1))
            for c in channels)
        self.cv3 = nn.ModuleList(_class_branch(c, c_cls, nc, legacy) for c in channels)
        self.dfl = DFL(REG_MAX)
        self.cv4 = nn.ModuleList(
            nn.Sequential(Conv(c, c_kpt, 3), Conv(c_kpt, c_kpt, 3), nn.Conv2d(c_kpt, self.nk, 1))
            for c in channels)

    def forward(self, feats: list[torch.Tensor]):
        if self.raw_maps:
            return self.level_maps(feats)
        b = feats[0].shape[0]
        maps = [torch.cat((self.cv2[i](f), self.cv3[i](f)), 1) for i, f in enumerate(feats)]
        kpt = torch.cat([self.cv4[i](f).view(b, self.nk, -1) for i, f in enumerate(feats)], -1)
        if self.training:
            return maps, kpt
        return self.decode(maps, kpt)

    def level_maps(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Per level: box distribution logits, class logits, keypoint offsets and (D == 3) keypoint
        visibility logits (the host-decode export's outputs; poseexport/decode/ reproduces `decode`)."""
        return tuple(t for i, f in enumerate(feats) for t in (self.cv2[i](f), self.cv3[i](f),
                                                              *self.keypoint_maps(i, f)))

    def keypoint_maps(self, i: int, f: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Level i's keypoints as two convolutions, offsets (dx, dy per keypoint) and visibility
        logits, instead of one 1x1 conv mixing them: an int8 artifact then gives each tensor its own
        scale (offsets span a few strides, logits about +-10; one scale for both costs ~1 px).
        Same weights, same values: the last conv's output channels, split."""
        k, d = self.kpt_shape
        *body, last = self.cv4[i]
        if d != 3:
            return (self.cv4[i](f),)
        h = f
        for module in body:
            h = module(h)
        w = last.weight.view(k, d, *last.weight.shape[1:])
        b = last.bias.view(k, d)
        xy = F.conv2d(h, w[:, :2].reshape(2 * k, *w.shape[2:]), b[:, :2].reshape(2 * k))
        visibility = F.conv2d(h, w[:, 2], b[:, 2])
        return xy, visibility

    def decode(self, maps: list[torch.Tensor], kpt: torch.Tensor) -> torch.Tensor:
        """Raw level maps + raw keypoints -> (B, 4 + nc + nk, A) in input pixels."""
        b = maps[0].shape[0]
        flat = torch.cat([m.view(b, self.no, -1) for m in maps], 2)
        box, cls = flat.split((4 * REG_MAX, self.nc), 1)
        anchors, strides = make_anchors(maps, self.stride, 0.5)
        anchors, strides = anchors.transpose(0, 1).unsqueeze(0), strides.transpose(0, 1)
        boxes = distances_to_boxes(self.dfl(box), anchors) * strides
        return torch.cat((boxes, cls.sigmoid(), self.decode_keypoints(kpt, anchors, strides)), 1)

    def decode_keypoints(self, kpt: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor
                         ) -> torch.Tensor:
        """Offsets relative to the anchor (in strides, x2) -> pixels; visibility -> sigmoid."""
        b = kpt.shape[0]
        k, d = self.kpt_shape
        k3 = kpt.view(b, k, d, -1)
        xy = (k3[:, :, :2] * 2.0 + (anchors.unsqueeze(1) - 0.5)) * strides
        if d == 3:
            k3 = torch.cat((xy, k3[:, :, 2:3].sigmoid()), 2)
        else:
            k3 = xy
        return k3.view(b, self.nk, -1)


def _class_branch(c: int, hidden: int, nc: int, legacy: bool) -> nn.Sequential:
    if legacy:  # YOLOv8: plain 3x3 convolutions
        return nn.Sequential(Conv(c, hidden, 3), Conv(hidden, hidden, 3), nn.Conv2d(hidden, nc, 1))
    # YOLO11: depth-wise separable convolutions
    return nn.Sequential(
        nn.Sequential(DWConv(c, c, 3), Conv(c, hidden, 1)),
        nn.Sequential(DWConv(hidden, hidden, 3), Conv(hidden, hidden, 1)),
        nn.Conv2d(hidden, nc, 1))
