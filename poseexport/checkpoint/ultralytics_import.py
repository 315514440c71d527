"""Map an Ultralytics pose checkpoint (unpickled as Recorded objects) onto PoseNet.

The checkpoint's module tree is walked, never executed: parameters and buffers are
collected under their dotted names, the layer table comes from the embedded yaml
dict, and the head's own `nc` / `kpt_shape` win over the yaml (the yaml keeps the
architecture default of 80 classes even when the model was trained on one).
"""
from __future__ import annotations

import torch

from ..errors import BadCheckpointError
from ..nn.network import PoseNet
from .safe_unpickle import Recorded


def is_ultralytics_checkpoint(obj) -> bool:
    return isinstance(obj, dict) and any(isinstance(obj.get(k), Recorded) for k in ("ema", "model"))


def network_from_ultralytics(ckpt: dict, source: str) -> tuple[PoseNet, dict]:
    """Build our network from a recorded Ultralytics checkpoint. Returns (net, facts)."""
    root = ckpt.get("ema") if isinstance(ckpt.get("ema"), Recorded) else ckpt.get("model")
    kind = getattr(root, "qualname", type(root).__name__)
    cfg = getattr(root, "yaml", None)
    layers = getattr(root, "_modules", {}).get("model")
    head = _last_child(layers)
    if not isinstance(cfg, dict) or head is None or getattr(head, "qualname", "").rsplit(".", 1)[-1] != "Pose":
        task = getattr(root, "task", None) or (ckpt.get("train_args") or {}).get("task", "unknown")
        raise BadCheckpointError(
            f"{source} is not a pose model",
            f"it holds a {kind.rsplit('.', 1)[-1]} (task '{task}') whose last layer is "
            f"{getattr(head, 'qualname', 'missing').rsplit('.', 1)[-1]}, not a Pose head",
            "pass a YOLO pose checkpoint such as yolo11n-pose.pt or your own pose best.pt")
    nc = int(head.nc)
    kpt_shape = tuple(int(v) for v in head.kpt_shape)
    state = collect_state(root)
    fused = not any(k.endswith(".bn.weight") for k in state)
    net = PoseNet(cfg, scale=cfg.get("scale"), nc=nc, kpt_shape=kpt_shape)
    if fused:
        net.eval().fuse()
    load_state_strict(net, state, source)
    names = getattr(root, "names", None) or {i: f"class{i}" for i in range(nc)}
    facts = {
        "names": {int(k): str(v) for k, v in dict(names).items()},
        "kpt_shape": list(kpt_shape),
        "arch": cfg.get("yaml_file") or "custom",
        "scale": cfg.get("scale"),
        "producer": f"ultralytics {ckpt.get('version', '?')}",
        "train_args": _plain(ckpt.get("train_args")),
        "train_metrics": _plain(ckpt.get("train_metrics")),
        "license": ckpt.get("license"),
        "date": ckpt.get("date"),
    }
    return net, facts


def collect_state(root: Recorded, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every parameter and persistent buffer of a recorded module tree, by dotted name."""
    state: dict[str, torch.Tensor] = {}
    stack = [(prefix, root)]
    while stack:
        name, module = stack.pop()
        d = module.__dict__
        skip = set(d.get("_non_persistent_buffers_set") or ())
        for key, value in list((d.get("_parameters") or {}).items()) + [
                (k, v) for k, v in (d.get("_buffers") or {}).items() if k not in skip]:
            if isinstance(value, torch.Tensor):
                state[f"{name}{key}"] = value
        for key, child in (d.get("_modules") or {}).items():
            if isinstance(child, Recorded):
                stack.append((f"{name}{key}.", child))
    return state


def load_state_strict(net: PoseNet, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy every tensor, demanding the exact same names and shapes (reports all mismatches)."""
    ours = net.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(v.shape)}"
             for k, v in ours.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        lines = [f"missing: {k}" for k in missing[:5]] + [f"unexpected: {k}" for k in unexpected[:5]]
        lines += wrong[:5]
        raise BadCheckpointError(
            f"The weights in {source} do not fit the architecture they declare",
            f"{len(missing)} missing, {len(unexpected)} unexpected and {len(wrong)} mis-shaped tensors",
            "the checkpoint may come from a different architecture or a newer library version",
            lines)
    converted = {k: state[k].to(ours[k].dtype) for k in ours}
    net.load_state_dict(converted, strict=True)


def _last_child(layers):
    modules = getattr(layers, "_modules", None) if layers is not None else None
    if not modules:
        return None
    return list(modules.values())[-1]


def _plain(value):
    """Recorded namespaces and containers -> JSON-friendly plain values."""
    if isinstance(value, Recorded):
        value = {k: v for k, v in value.__dict__.items() if not k.startswith("_")}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return str(value)
