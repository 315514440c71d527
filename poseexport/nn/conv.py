"""Convolution building blocks: Conv(+BN+SiLU), depth-wise Conv, Concat, and BN folding.

Attribute names (`conv`, `bn`) follow the public YOLO checkpoint layout so that
imported state dicts map one to one onto these modules.
"""
from __future__ import annotations

import torch
from torch import nn

# The YOLO family trains with these BatchNorm settings; imported checkpoints carry them too.
BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size at stride 1 (odd kernels)."""
    effective = dilation * (kernel - 1) + 1
    return effective // 2


class Conv(nn.Module):
    """Conv2d without bias -> BatchNorm2d -> SiLU (or no activation)."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, p: int | None = None,
                 g: int = 1, d: int = 1, act: bool = True):
        super().__init__()
        pad = same_padding(k, d) if p is None else p
        self.conv = nn.Conv2d(c_in, c_out, k, s, pad, groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is None:  # folded for inference
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold the BatchNorm into the convolution (inference only)."""
        if self.bn is not None:
            self.conv = fold_batchnorm(self.conv, self.bn)
            self.bn = None


class DWConv(Conv):
    """Depth-wise convolution: one group per greatest common divisor of the channels."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1, d: int = 1, act: bool = True):
        super().__init__(c_in, c_out, k, s, g=_gcd(c_in, c_out), d=d, act=act)


class Concat(nn.Module):
    """Concatenate a list of tensors along one dimension."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, self.dim)


def fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to `bn(conv(x))` in eval mode."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True,
                      padding_mode=conv.padding_mode).to(conv.weight.device)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    fused.weight.requires_grad_(False)
    fused.bias.requires_grad_(False)
    return fused


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a
