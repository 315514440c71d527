"""Learning-rate schedule: linear or cosine decay per epoch, with a linear warm-up per iteration.

The schedule is a pure function of (epoch, iteration), so a resumed run needs no scheduler state.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .optim import set_momentum


def lr_factor(epoch: int, epochs: int, lrf: float, cos: bool) -> float:
    """Multiplier of lr0 at `epoch` (0-based): 1 at the start, `lrf` at `epochs`."""
    x = min(max(epoch / epochs, 0.0), 1.0)
    if cos:
        return ((1 - math.cos(x * math.pi)) / 2) * (lrf - 1) + 1
    return (1 - x) * (1.0 - lrf) + lrf


MIN_WARMUP_ITERS = 100


def warmup_iterations(warmup_epochs: float, batches_per_epoch: int) -> int:
    """Warm-up length in iterations: `warmup_epochs` epochs, but at least MIN_WARMUP_ITERS.

    The floor matters on small datasets: with one batch per epoch, three epochs of warm-up
    would reach the full learning rate in three steps, which wrecks pretrained weights
    (fine-tuning yolo11n-pose on coco8-pose lost 50 points of pose mAP that way).
    0 turns warm-up off.
    """
    if warmup_epochs <= 0:
        return 0
    return max(round(warmup_epochs * batches_per_epoch), MIN_WARMUP_ITERS)


@dataclass(frozen=True)
class Schedule:
    """Everything needed to set lr, momentum and accumulation at any iteration."""

    epochs: int
    lrf: float
    cos: bool
    warmup_iters: int
    warmup_bias_lr: float
    warmup_momentum: float
    momentum: float
    accumulate: int  # optimiser step every `accumulate` batches once warm-up is over

    def factor(self, epoch: int) -> float:
        return lr_factor(epoch, self.epochs, self.lrf, self.cos)

    def start_epoch(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """Set every group's lr for `epoch` (warm-up then overrides it per iteration)."""
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * self.factor(epoch)

    def in_warmup(self, iteration: int) -> bool:
        return self.warmup_iters > 0 and iteration <= self.warmup_iters

    def warm(self, optimizer: torch.optim.Optimizer, iteration: int, epoch: int) -> int:
        """During warm-up: bias lr falls from warmup_bias_lr and the others rise from 0 to their
        scheduled value, momentum rises from warmup_momentum; returns the accumulation to use."""
        if not self.in_warmup(iteration):
            return self.accumulate
        xi = [0, self.warmup_iters]
        for group in optimizer.param_groups:
            start = self.warmup_bias_lr if group.get("param_group") == "bias" else 0.0
            group["lr"] = float(np.interp(iteration, xi, [start, group["initial_lr"] * self.factor(epoch)]))
        set_momentum(optimizer, float(np.interp(iteration, xi, [self.warmup_momentum, self.momentum])))
        return max(1, int(np.interp(iteration, xi, [1, self.accumulate]).round()))
