"""The optimiser: three parameter groups, and what optimizer='auto' chooses.

Groups (the order is fixed; lr/pg0..2 in results.csv follow it):
  0 "weight": conv / linear weights, with weight decay
  1 "norm":   BatchNorm (and other norm) weights, no decay: decaying a scale only shrinks it
  2 "bias":   every bias, no decay; warm-up starts their lr high (`warmup_bias_lr`)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

GROUP_NAMES = ("weight", "norm", "bias")
AUTO_SGD_ITERATIONS = 10_000  # 'auto' picks SGD above this many optimiser steps


@dataclass(frozen=True)
class OptimizerChoice:
    """What will be built: name, lr0, momentum, and whether 'auto' decided it."""

    name: str
    lr0: float
    momentum: float
    auto: bool = False

    def describe(self) -> str:
        how = " (chosen by optimizer=auto)" if self.auto else ""
        return f"{self.name}(lr0={self.lr0:g}, momentum={self.momentum:g}){how}"


def choose_optimizer(name: str, lr0: float, momentum: float, iterations: int, nc: int) -> OptimizerChoice:
    """'auto': SGD(lr 0.01, momentum 0.9) for runs of more than 10k optimiser steps, else AdamW with
    lr = 0.002 * 5 / (4 + nc) (0.002 for one class) and beta1 0.9 — short fine-tuning runs on small
    datasets do better with Adam's small, per-parameter steps. An explicit name keeps lr0 and momentum."""
    if name != "auto":
        return OptimizerChoice(name, lr0, momentum)
    if iterations > AUTO_SGD_ITERATIONS:
        return OptimizerChoice("SGD", 0.01, 0.9, auto=True)
    return OptimizerChoice("AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9, auto=True)


def parameter_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
    """(decayed weights, norm weights, biases) of the trainable parameters."""
    weights, norms, biases = [], [], []
    seen: set[int] = set()
    for module in model.modules():
        for pname, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if pname == "bias":
                biases.append(param)
            elif isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                norms.append(param)
            else:
                weights.append(param)
    return weights, norms, biases


def build_optimizer(model: nn.Module, choice: OptimizerChoice, weight_decay: float) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW over the three groups; only group 0 decays."""
    groups = [{"params": params, "weight_decay": decay, "param_group": name}
              for name, params, decay in zip(GROUP_NAMES, parameter_groups(model), (weight_decay, 0.0, 0.0))]
    if choice.name == "SGD":
        optimizer = torch.optim.SGD(groups, lr=choice.lr0, momentum=choice.momentum, nesterov=True)
    elif choice.name == "AdamW":
        optimizer = torch.optim.AdamW(groups, lr=choice.lr0, betas=(choice.momentum, 0.999))
    else:  # options.checked() refuses other names before we get here
        raise ValueError(f"unknown optimizer {choice.name}")
    for group in optimizer.param_groups:
        group["initial_lr"] = choice.lr0
    return optimizer


def set_momentum(optimizer: torch.optim.Optimizer, value: float) -> None:
    """Warm-up momentum applies to SGD only (Adam's beta1 is left as built)."""
    if isinstance(optimizer, torch.optim.SGD):
        for group in optimizer.param_groups:
            group["momentum"] = value
