"""The network a run starts from: architecture, dataset layout, and transferred weights."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..checkpoint.loader import load_checkpoint
from ..errors import UnsupportedOptionError
from ..nn.config import resolve_arch
from ..nn.network import PoseNet
from ..weights import resolve_weights


@dataclass
class StartingNet:
    """The network to train, its architecture name, and what was done to build it."""

    net: PoseNet
    arch: str
    notes: list[str] = field(default_factory=list)
    transferred: tuple[int, int] | None = None


def transfer_weights(net: nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, int, list[str]]:
    """Copy every tensor of `state` whose name and shape match; (matched, total, missed names)."""
    ours = net.state_dict()
    matched = {k: v for k, v in state.items() if k in ours and ours[k].shape == v.shape}
    net.load_state_dict(matched, strict=False)
    return len(matched), len(ours), [k for k in ours if k not in matched]


def starting_net(model, nc: int, kpt_shape: tuple[int, int], pretrained: str | Path | None = None
                 ) -> StartingNet:
    """`model`: a config name / yaml, a checkpoint path, or a PoseModel. The result always has the
    dataset's nc and kpt_shape; a checkpoint of another layout is rebuilt with a new head."""
    from ..model import PoseModel, is_architecture_name

    layout = (int(nc), tuple(int(v) for v in kpt_shape))
    notes: list[str] = []
    transferred = None
    if isinstance(model, PoseModel):
        source_net, arch, source = model.net, model.arch_name, "the given PoseModel"
    elif is_architecture_name(model):
        spec = resolve_arch(model)
        source_net, arch, source = None, spec.name, None
        net = PoseNet(spec.config, spec.scale, nc=nc, kpt_shape=kpt_shape)
        init_head_biases(net)
        notes.append(f"new {spec.name} network (random weights) for nc={nc}, kpt_shape={list(kpt_shape)}")
    else:
        ckpt = load_checkpoint(resolve_weights(model))
        source_net, arch, source = ckpt.net, Path(str(model)).stem, str(model)
    if source_net is not None:
        if source_net.is_fused:
            raise UnsupportedOptionError(f"{source} cannot be trained", "its BatchNorms were fused into "
                                         "the convolutions (an inference-only form)",
                                         "train from the unfused checkpoint or from a yaml")
        net = PoseNet(source_net.cfg, source_net.scale, nc=nc, kpt_shape=kpt_shape)
        init_head_biases(net)  # what does not transfer starts from the priors
        n, total, _ = transfer_weights(net, source_net.state_dict())
        transferred = (n, total)
        if (source_net.nc, tuple(source_net.kpt_shape)) != layout:
            notes.append(f"the dataset has nc={nc}, kpt_shape={list(kpt_shape)}; {source} has "
                         f"nc={source_net.nc}, kpt_shape={list(source_net.kpt_shape)}: built a new head "
                         f"for the dataset and transferred {n}/{total} tensors")
        else:
            notes.append(f"started from {source}: transferred {n}/{total} tensors")
    if pretrained:
        ckpt = load_checkpoint(resolve_weights(pretrained))
        n, total, _ = transfer_weights(net, ckpt.net.state_dict())
        transferred = (n, total)
        notes.append(f"pretrained {pretrained}: transferred {n}/{total} tensors")
        if n == 0:
            raise UnsupportedOptionError(f"No tensor of {pretrained} fits {arch}",
                                         "no name and shape matched: it is another architecture",
                                         "pass weights of the same architecture (e.g. yolo11n-pose.pt "
                                         "for yolo11n-pose.yaml)")
    return StartingNet(net=net, arch=arch, notes=notes, transferred=transferred)


def init_head_biases(net: PoseNet, image_size: int = 640) -> None:
    """Start a new head from priors instead of random biases: box distance logits at 1, and class
    logits at log(p / (1 - p)) ~ log(5 / nc / cells), i.e. ~5 objects per image spread over the
    classes and the grid cells of each level (at 640 px). Without this, the untrained class scores
    sit near 0.5 on thousands of empty cells and the class loss swamps the first epochs."""
    head = net.head
    for box, cls, stride in zip(head.cv2, head.cv3, head.stride.tolist()):
        with torch.no_grad():
            box[-1].bias.fill_(1.0)
            cls[-1].bias[: head.nc].fill_(math.log(5 / head.nc / (image_size / stride) ** 2))


def freeze_layers(net: PoseNet, count: int) -> int:
    """Stop gradients of model.0 ... model.<count-1>; returns the number of frozen tensors."""
    if count > len(net.model):
        raise UnsupportedOptionError(f"freeze={count} is more than the network's {len(net.model)} layers",
                                     "there would be nothing left to train",
                                     f"use a number below {len(net.model)} (10 freezes a YOLO11 backbone)")
    frozen = 0
    for i in range(count):
        for p in net.model[i].parameters():
            p.requires_grad_(False)
            frozen += 1
    return frozen
