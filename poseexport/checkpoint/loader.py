"""Open any pose checkpoint (ours or Ultralytics') into a PoseNet plus its facts."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadCheckpointError
from ..nn.network import PoseNet
from ..weights import sha256_file
from .native import is_native_checkpoint, read_native
from .safe_unpickle import restricted_load
from .ultralytics_import import (
    is_ultralytics_checkpoint,
    load_state_strict,
    network_from_ultralytics,
)


@dataclass
class LoadedCheckpoint:
    """A network with the facts a checkpoint carried (names, kpt_shape, provenance)."""

    net: PoseNet
    names: dict[int, str]
    kpt_shape: tuple[int, int]
    source: Path
    sha256: str
    origin: str  # "ultralytics" | "poseexport"
    facts: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False)  # the whole unpickled dict (train state)


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    path = Path(path)
    obj = restricted_load(path)
    digest = sha256_file(path)
    if is_native_checkpoint(obj):
        config, facts, state = read_native(obj)
        net = PoseNet(config, scale=config.get("scale"), nc=config.get("nc"),
                      kpt_shape=config.get("kpt_shape"))
        if facts.get("fused"):
            net.eval().fuse()
        load_state_strict(net, state, str(path))
        origin = "poseexport"
    elif is_ultralytics_checkpoint(obj):
        net, facts = network_from_ultralytics(obj, str(path))
        origin = "ultralytics"
    else:
        keys = ", ".join(map(str, list(obj)[:8])) if isinstance(obj, dict) else type(obj).__name__
        raise BadCheckpointError(
            f"{path} is not a pose model checkpoint",
            f"it holds {keys} but neither a poseexport checkpoint nor an Ultralytics model",
            "pass a YOLO pose .pt file (official or your own best.pt) or a poseexport checkpoint")
    names = {int(k): str(v) for k, v in (facts.get("names") or {0: "person"}).items()}
    return LoadedCheckpoint(net=net, names=names, kpt_shape=tuple(net.kpt_shape), source=path,
                            sha256=digest, origin=origin, facts=facts, raw=obj)
