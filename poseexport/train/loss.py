"""The YOLO pose training loss: box (CIoU + DFL), class BCE, keypoint OKS loss and visibility BCE.

Conventions (the ones the published YOLO pose models were trained with):

- Anchors are assigned by `TaskAlignedAssigner` (top-10, alpha 0.5, beta 6). `tss` is
  the sum of all target scores in the batch, at least 1.
- box  = sum over positives of (1 - CIoU(pred, GT)) * t / tss, boxes in stride units,
  t = the positive's target score.
- dfl  = sum over positives of mean over the 4 sides of DFL(side) * t / tss, the target
  side distance in stride units clamped to [0, reg_max - 1.01].
- cls  = sum over all anchors and classes of BCE(logit, target score) / tss.
- pose = mean over (positive, keypoint) of  K / (n_labelled + 1e-9) * labelled *
         (1 - exp(-d^2 / (2 * (2 sigma)^2 * (area + 1e-9)))),
  d the keypoint error and area = w * h of the assigned GT box, both in the anchor's
  stride units (the ratio is scale free). The factor K / n_labelled gives objects with
  few labelled keypoints the same weight as fully labelled ones.
- kobj = mean over (positive, keypoint) of BCE(visibility logit, labelled) (only D == 3).
- A keypoint is labelled when v != 0 (D == 3) or, for D == 2, when it is not at (0, 0)
  (the convention of `poseexport.metrics`).
- loss = batch_size * sum of gain * component (gains: box 7.5, pose 12, kobj 1, cls 0.5,
  dfl 1.5), so that gradient accumulation to a nominal batch sums per-image losses.
- sigmas: COCO's per-keypoint OKS sigmas when K == 17, else 1/K for every keypoint.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import BadDatasetError, UnsupportedOptionError
from ..metrics.matching import default_sigmas
from ..nn.head import PoseHead, make_anchors
from .assigner import Assignment, TaskAlignedAssigner
from .box_ops import (
    boxes_to_distances,
    ciou,
    cxcywh_to_xyxy,
    distances_to_xyxy,
    distribution_focal_loss,
    expected_distances,
)

LOSS_NAMES = ("box", "pose", "kobj", "cls", "dfl")
BATCH_KEYS = ("cls", "bboxes", "keypoints", "batch_idx")


@dataclass(frozen=True)
class LossGains:
    """Weights of the five loss components (the usual YOLO pose hyper-parameters)."""

    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    pose: float = 12.0
    kobj: float = 1.0

    def as_tensor(self, device: torch.device) -> torch.Tensor:
        return torch.tensor([getattr(self, name) for name in LOSS_NAMES], device=device)


@dataclass(frozen=True)
class Targets:
    """Ground truth padded to (B, M, ...) per image, in input pixels."""

    labels: torch.Tensor  # (B, M) long
    boxes: torch.Tensor  # (B, M, 4) xyxy
    keypoints: torch.Tensor  # (B, M, K, D), xy in pixels
    valid: torch.Tensor  # (B, M) bool; False on padding slots


class PoseLoss:
    """Loss of a `PoseHead`'s training outputs `(maps, kpt)` against a collated batch."""

    def __init__(self, head: PoseHead, gains: LossGains = LossGains(),
                 sigmas: Sequence[float] | None = None, topk: int = 10, alpha: float = 0.5,
                 beta: float = 6.0):
        self.nc = head.nc
        self.kpt_shape = tuple(head.kpt_shape)
        self.reg_max = head.reg_max
        self.strides = head.stride.detach().float().cpu().clone()
        if not bool((self.strides > 0).all()):
            raise UnsupportedOptionError("The pose head has no strides set",
                                         "PoseLoss needs the strides that PoseNet measures when it is built",
                                         "pass the head of a built PoseNet (model.net.head)")
        self.gains = gains
        k = self.kpt_shape[0]
        sig = default_sigmas(k) if sigmas is None else list(sigmas)
        self.sigmas = torch.as_tensor(sig, dtype=torch.float32).flatten()
        if self.sigmas.numel() != k or not bool((self.sigmas > 0).all()):
            raise UnsupportedOptionError(
                f"Keypoint sigmas {self.sigmas.tolist()} do not fit kpt_shape {list(self.kpt_shape)}",
                f"the OKS loss needs {k} positive sigmas, one per keypoint",
                "pass one positive sigma per keypoint, or None for the default")
        # tiny boxes are widened to the middle stride for the inside-the-box test
        middle = float(self.strides[len(self.strides) // 2])
        self.assigner = TaskAlignedAssigner(self.nc, topk=topk, alpha=alpha, beta=beta, min_box_side=middle)

    def __call__(self, preds: tuple[list[torch.Tensor], torch.Tensor], batch: dict
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss * batch_size with gradient, detached (5,) gained components in LOSS_NAMES order)."""
        components, _ = self.components(preds, batch)
        gained = components * self.gains.as_tensor(components.device)
        batch_size = preds[0][0].shape[0]
        return gained.sum() * batch_size, gained.detach()

    def components(self, preds: tuple[list[torch.Tensor], torch.Tensor], batch: dict
                   ) -> tuple[torch.Tensor, Assignment]:
        """The five components before gains, (5,) in LOSS_NAMES order, and the assignment."""
        # always in float32, also when the forward ran under mixed precision
        with torch.autocast(preds[1].device.type, enabled=False):
            return self._components(preds, batch)

    def _components(self, preds: tuple[list[torch.Tensor], torch.Tensor], batch: dict
                    ) -> tuple[torch.Tensor, Assignment]:
        maps, kpt = preds
        b = maps[0].shape[0]
        device = maps[0].device
        flat = torch.cat([m.reshape(b, self.reg_max * 4 + self.nc, -1) for m in maps], 2).float()
        dist_logits, cls_logits = flat.permute(0, 2, 1).split((self.reg_max * 4, self.nc), -1)
        strides = self.strides.to(device)
        # anchors in float32 whatever the maps' dtype (bfloat16 cannot hold 159.5); shapes are all it reads
        grids = [torch.zeros((), device=device).expand(1, 1, *m.shape[2:]) for m in maps]
        anchors, anchor_strides = make_anchors(grids, strides, 0.5)  # (A, 2) grid units, (A, 1)
        imgsz = torch.tensor(maps[0].shape[2:], device=device, dtype=torch.float32) * strides[0]  # (h, w)

        targets = self.targets(batch, b, imgsz)
        pred_boxes = distances_to_xyxy(expected_distances(dist_logits, self.reg_max), anchors)  # grid units
        assignment = self.assigner(cls_logits.detach().sigmoid(), pred_boxes.detach() * anchor_strides,
                                   anchors * anchor_strides, targets.labels, targets.boxes, targets.valid)
        tss = assignment.target_scores.sum().clamp(min=1)
        cls = F.binary_cross_entropy_with_logits(cls_logits, assignment.target_scores, reduction="sum") / tss

        fg = assignment.fg_mask
        if bool(fg.any()):
            box, dfl = self._box_losses(pred_boxes, dist_logits, anchors, anchor_strides, assignment, tss)
            pose, kobj = self._keypoint_losses(kpt.float(), anchors, anchor_strides, assignment, targets)
        else:  # keep every branch in the graph (distributed training needs a gradient everywhere)
            box = dfl = _zero_with_graph(dist_logits)
            pose = kobj = _zero_with_graph(kpt)
        return torch.stack((box, pose, kobj, cls, dfl)), assignment

    # ---- targets ------------------------------------------------------------------------
    def targets(self, batch: dict, batch_size: int, imgsz: torch.Tensor) -> Targets:
        """Collated labels (normalised, one row per object) -> per-image padded pixel targets."""
        missing = [key for key in BATCH_KEYS if key not in batch]
        if missing:
            raise BadDatasetError(f"The training batch has no {', '.join(missing)}",
                                  f"the pose loss needs the keys {', '.join(BATCH_KEYS)}",
                                  "build batches with the pose dataset's collate function")
        device = imgsz.device
        k, d = self.kpt_shape
        idx = torch.as_tensor(batch["batch_idx"], device=device).view(-1).long()
        n = idx.numel()
        cls = torch.as_tensor(batch["cls"], device=device).view(-1).long()
        boxes = torch.as_tensor(batch["bboxes"], device=device).float().view(n, 4)
        kpts = torch.as_tensor(batch["keypoints"], device=device).float()
        if kpts.shape != (n, k, d):
            raise BadDatasetError(f"Batch keypoints of shape {list(kpts.shape)} do not fit the model",
                                  f"the model predicts kpt_shape {[k, d]} for each of the {n} objects",
                                  "train with a dataset whose kpt_shape matches the model's "
                                  "(build the model with the dataset's kpt_shape)")
        if n and (int(cls.min()) < 0 or int(cls.max()) >= self.nc):
            raise BadDatasetError(f"Batch class ids {int(cls.min())}..{int(cls.max())} are out of range",
                                  f"the model has {self.nc} classes (0..{self.nc - 1})",
                                  "build the model with the dataset's number of classes")
        counts = torch.bincount(idx, minlength=batch_size)
        m = int(counts.max()) if n else 0
        order = torch.sort(idx, stable=True).indices  # images may come unsorted
        slot = torch.empty_like(idx)
        slot[order] = torch.arange(n, device=device) - (counts.cumsum(0) - counts)[idx[order]]

        scale = imgsz[[1, 0]]  # (w, h)
        labels = torch.zeros(batch_size, m, dtype=torch.long, device=device)
        padded_boxes = torch.zeros(batch_size, m, 4, device=device)
        padded_kpts = torch.zeros(batch_size, m, k, d, device=device)
        valid = torch.zeros(batch_size, m, dtype=torch.bool, device=device)
        labels[idx, slot] = cls
        padded_boxes[idx, slot] = cxcywh_to_xyxy(boxes * scale.repeat(2))
        pixel_kpts = kpts.clone()
        pixel_kpts[..., :2] *= scale
        padded_kpts[idx, slot] = pixel_kpts
        valid[idx, slot] = True
        return Targets(labels, padded_boxes, padded_kpts, valid)

    # ---- components ---------------------------------------------------------------------
    def _box_losses(self, pred_boxes, dist_logits, anchors, anchor_strides, assignment: Assignment,
                    tss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fg = assignment.fg_mask
        weight = assignment.target_scores.sum(-1)[fg]  # (n,)
        target = (assignment.target_boxes / anchor_strides)[fg]  # grid units, (n, 4)
        box = ((1.0 - ciou(pred_boxes[fg], target)) * weight).sum() / tss
        anchor_fg = anchors.expand(fg.shape[0], -1, -1)[fg]
        sides = boxes_to_distances(anchor_fg, target, self.reg_max - 1)  # (n, 4)
        per_side = distribution_focal_loss(dist_logits[fg].reshape(-1, self.reg_max), sides.reshape(-1))
        dfl = (per_side.view(-1, 4).mean(-1) * weight).sum() / tss
        return box, dfl

    def _keypoint_losses(self, kpt, anchors, anchor_strides, assignment: Assignment, targets: Targets
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        k, d = self.kpt_shape
        fg = assignment.fg_mask
        b, a = fg.shape
        pred = kpt.view(b, k, d, a).permute(0, 3, 1, 2)[fg]  # (n, K, D) raw
        anchor_fg = anchors.expand(b, -1, -1)[fg]  # (n, 2) grid units
        stride_fg = anchor_strides.view(1, a).expand(b, -1)[fg]  # (n,)
        pred_xy = pred[..., :2] * 2.0 + (anchor_fg.unsqueeze(1) - 0.5)

        image = torch.arange(b, device=fg.device).view(b, 1).expand(b, a)[fg]
        gt = targets.keypoints[image, assignment.gt_index[fg]]  # (n, K, D) pixels
        gt_xy = gt[..., :2] / stride_fg.view(-1, 1, 1)
        labelled = gt[..., 2] != 0 if d == 3 else (gt[..., 0] != 0) | (gt[..., 1] != 0)
        box = (assignment.target_boxes[fg] / stride_fg.view(-1, 1))
        area = ((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])).unsqueeze(1)  # (n, 1)

        sigmas = self.sigmas.to(kpt.device)
        dist2 = (pred_xy - gt_xy).pow(2).sum(-1)  # (n, K)
        e = dist2 / ((2 * sigmas).pow(2) * (area + 1e-9) * 2)
        weight = k / (labelled.sum(1, keepdim=True) + 1e-9)
        pose = (weight * (1 - torch.exp(-e)) * labelled).mean()
        if d == 3:
            kobj = F.binary_cross_entropy_with_logits(pred[..., 2], labelled.float())
        else:
            kobj = _zero_with_graph(pred)
        return pose, kobj


def _zero_with_graph(tensor: torch.Tensor) -> torch.Tensor:
    """A float 0 (never -0) that depends on `tensor`, so its branch still receives a gradient."""
    return tensor.float().sum() * 0.0 + 0.0
