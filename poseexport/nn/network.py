"""PoseNet: a YOLO pose network built from a layer table.

Layers are stored as `model.<i>` so that state-dict keys match the public YOLO
checkpoint layout; every layer knows its inputs (`f`) and index (`i`).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .attention import C2PSA
from .blocks import SPPF, C2f, C3k2
from .config import BadConfigError, scale_factors
from .conv import Concat, Conv, DWConv
from .head import PoseHead

# modules whose first arg is the output width (scaled), and those that take a repeat count
_WIDTH_MODULES = {"Conv": Conv, "DWConv": DWConv, "C2f": C2f, "C3k2": C3k2, "SPPF": SPPF,
                  "C2PSA": C2PSA}
_REPEAT_MODULES = {"C2f", "C3k2", "C2PSA"}
_HEADS = {"Pose"}


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


class PoseNet(nn.Module):
    """The network: `model` holds every layer; the last one is the PoseHead."""

    def __init__(self, cfg: dict, scale: str | None = None, nc: int | None = None,
                 kpt_shape: tuple[int, int] | None = None, in_channels: int = 3):
        super().__init__()
        self.cfg = dict(cfg)
        self.nc = int(nc if nc is not None else cfg.get("nc", 1))
        self.kpt_shape = tuple(int(v) for v in (kpt_shape or cfg.get("kpt_shape", (17, 3))))
        if len(self.kpt_shape) != 2 or self.kpt_shape[1] not in (2, 3) or self.kpt_shape[0] < 1:
            raise BadConfigError(f"kpt_shape {list(self.kpt_shape)} is not valid",
                                 "it must be [K, 2] (x, y) or [K, 3] (x, y, visibility)",
                                 "fix kpt_shape in the config or the dataset yaml")
        self.scale = scale
        self.cfg.update(nc=self.nc, kpt_shape=list(self.kpt_shape), scale=scale)
        self.model, self.save = _build_layers(self.cfg, scale, in_channels)
        self.head.stride = self._probe_strides(in_channels)
        self.stride = self.head.stride

    @property
    def head(self) -> PoseHead:
        return self.model[-1]

    def forward(self, x: torch.Tensor):
        outputs: list[torch.Tensor | None] = []
        for layer in self.model:
            if layer.f != -1:
                x = outputs[layer.f] if isinstance(layer.f, int) else [
                    x if j == -1 else outputs[j] for j in layer.f]
            x = layer(x)
            outputs.append(x if layer.i in self.save else None)
        return x

    def fuse(self) -> "PoseNet":
        """Fold every BatchNorm into its convolution (inference only; irreversible)."""
        for module in self.modules():
            if isinstance(module, Conv):
                module.fuse()
        return self

    @property
    def is_fused(self) -> bool:
        return not any(isinstance(m, nn.BatchNorm2d) for m in self.modules())

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _probe_strides(self, in_channels: int) -> torch.Tensor:
        size = 256
        was_training = self.training
        self.train()  # the head returns raw level maps in training mode
        with torch.no_grad():
            maps, _ = self.forward(torch.zeros(1, in_channels, size, size))
        self.train(was_training)
        return torch.tensor([size / m.shape[-2] for m in maps])


def _build_layers(cfg: dict, scale: str | None, in_channels: int) -> tuple[nn.Sequential, set[int]]:
    depth, width, max_channels = scale_factors(cfg, scale)
    names = {"nc": int(cfg["nc"]), "kpt_shape": list(cfg["kpt_shape"])}
    legacy = not any(row[2] == "C3k2" for row in cfg["backbone"] + cfg["head"])
    channels = [in_channels]
    layers, save = [], set()
    for i, row in enumerate(cfg["backbone"] + cfg["head"]):
        if not (isinstance(row, (list, tuple)) and len(row) == 4):
            raise BadConfigError(f"Layer {i} of the config is malformed",
                                 f"expected [from, repeats, module, args], got {row!r}",
                                 "fix the layer table")
        src, repeats, kind, args = row
        args = [_resolve_arg(a, names) for a in args]
        kind = kind[3:] if kind.startswith("nn.") else kind
        repeats = max(round(repeats * depth), 1) if repeats > 1 else repeats
        c_in = channels[src] if isinstance(src, int) else None
        if kind in _WIDTH_MODULES:
            c_out = args[0]
            if c_out != names["nc"]:
                c_out = make_divisible(min(c_out, max_channels) * width, 8)
            args = [c_in, c_out, *args[1:]]
            if kind in _REPEAT_MODULES:
                args.insert(2, repeats)
                repeats = 1
            if kind == "C3k2" and scale is not None and scale in "mlx":
                while len(args) < 4:
                    args.append(False)
                args[3] = True  # larger YOLO11 scales use C3k inner blocks throughout
            layer = _repeat(_WIDTH_MODULES[kind], args, repeats)
        elif kind == "Upsample":
            c_out = c_in
            layer = nn.Upsample(*args)
        elif kind == "Concat":
            c_out = sum(channels[j] for j in src)
            layer = Concat(*args)
        elif kind in _HEADS:
            nc, kpt_shape = args[0], args[1]
            layer = PoseHead(nc, kpt_shape, [channels[j] for j in src], legacy=legacy)
            c_out = None
        else:
            raise BadConfigError(f"Layer {i} uses module '{row[2]}', which poseexport does not build",
                                 "pose configs may use Conv, DWConv, C2f, C3k2, SPPF, C2PSA, "
                                 "nn.Upsample, Concat and Pose",
                                 "change the module or open an issue")
        layer.f, layer.i = src, i
        save.update(j % (i if i else 1) for j in ([src] if isinstance(src, int) else src) if j != -1)
        layers.append(layer)
        if i == 0:
            channels = []
        channels.append(c_out)
    return nn.Sequential(*layers), save


def _repeat(cls, args: list, repeats: int) -> nn.Module:
    return nn.Sequential(*(cls(*args) for _ in range(repeats))) if repeats > 1 else cls(*args)


def _resolve_arg(arg, names: dict):
    if isinstance(arg, str):
        if arg in names:
            return names[arg]
        if arg == "None":
            return None
    return arg
