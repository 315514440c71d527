"""Exponential moving average of the weights, with a decay that ramps up from 0.

decay(n) = decay_max * (1 - exp(-n / tau)): early updates follow the model closely (the
first weights are poor), later ones average over ~1 / (1 - decay_max) steps.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """A frozen copy of the model whose float tensors track the model's (buffers included)."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0):
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.decay_max, self.tau, self.updates = decay, tau, updates

    def decay(self) -> float:
        return self.decay_max * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay()
        source = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(source[name].detach().to(value.dtype), alpha=1 - d)
            else:  # counters such as BatchNorm's num_batches_tracked
                value.copy_(source[name])
