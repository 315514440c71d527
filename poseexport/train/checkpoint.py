"""Training checkpoints: poseexport's safe native format plus the state a run needs to resume.

`state_dict` holds the EMA weights, so `PoseModel("weights/best.pt")` predicts, validates
and exports with them like any other checkpoint. Two more keys ride along (plain tensors,
numbers and strings only, so the restricted unpickler and `torch.load(weights_only=True)`
both read them):

  train_json   JSON: epochs_done, interrupted, options, metrics, best_fitness, EMA updates,
               Python and NumPy RNG scalars
  train_state  tensors: raw (non-EMA) weights, optimiser and AMP scaler state, RNG states
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..checkpoint.native import save_native
from ..errors import BadCheckpointError


@dataclass
class TrainState:
    """What resuming needs, read back from a checkpoint."""

    epochs_done: int
    interrupted: bool
    options: dict
    data: str
    model: str
    best_fitness: float | None
    best_epoch: int
    ema_updates: int
    metrics: dict
    raw_weights: dict[str, torch.Tensor]
    optimizer: dict
    scaler: dict
    rng: dict


def rng_snapshot() -> tuple[dict, dict]:
    """(JSON part, tensor part) of the Python, NumPy and torch RNG states."""
    version, state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(np_keys.astype(np.int64))}
    if torch.cuda.is_available():
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    plain = {"python": [version, list(state), gauss], "numpy": [np_name, int(np_pos), int(np_has_gauss),
                                                                 float(np_gauss)]}
    return plain, tensors


def restore_rng(plain: dict, tensors: dict) -> None:
    version, state, gauss = plain["python"]
    random.setstate((version, tuple(state), gauss))
    name, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((name, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available() and len(tensors["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(tensors["cuda"])


def save_train_checkpoint(path: Path, *, ema_net, raw_net, optimizer, scaler, epochs_done: int,
                          interrupted: bool, options: dict, data: str, model: str, arch: str,
                          names: dict, metrics: dict, best_fitness: float | None,
                          best_epoch: int, ema_updates: int) -> Path:
    plain_rng, tensor_rng = rng_snapshot()
    facts = {"names": names, "arch": arch, "fused": False,
             "train": {"epochs_done": epochs_done, "epochs": options.get("epochs"),
                       "interrupted": interrupted, "data": data, "metrics": metrics,
                       "best_fitness": best_fitness,
                       "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}}
    train_json = {"epochs_done": epochs_done, "interrupted": interrupted, "options": options,
                  "data": data, "model": model, "best_fitness": best_fitness, "best_epoch": best_epoch,
                  "ema_updates": ema_updates,
                  "metrics": metrics, "rng": plain_rng}
    train_state = {"model": {k: v.detach().cpu().clone() for k, v in raw_net.state_dict().items()},
                   "optimizer": _to_cpu(optimizer.state_dict()),
                   "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else {},
                   "rng": tensor_rng}
    extra = {"train_json": json.dumps(train_json, default=str), "train_state": train_state}
    return save_native(path, ema_net.state_dict(), ema_net.cfg, facts, extra=extra)


def read_train_state(raw: dict, path: Path) -> TrainState:
    """The resume state of an unpickled checkpoint; a plain weights file is refused clearly."""
    if "train_json" not in raw or "train_state" not in raw:
        raise BadCheckpointError(f"{path} cannot be resumed",
                                 "it holds weights only, not the state of a training run",
                                 "resume from a run's weights/last.pt, or start a new run with "
                                 f"--model {path}")
    plain = json.loads(raw["train_json"])
    state = raw["train_state"]
    return TrainState(epochs_done=int(plain["epochs_done"]), interrupted=bool(plain["interrupted"]),
                      options=plain["options"], data=plain["data"], model=plain["model"],
                      best_fitness=plain["best_fitness"], best_epoch=int(plain.get("best_epoch", 0)),
                      ema_updates=int(plain["ema_updates"]),
                      metrics=plain.get("metrics") or {}, raw_weights=dict(state["model"]),
                      optimizer=state["optimizer"], scaler=state.get("scaler") or {},
                      rng={"plain": plain["rng"], "tensors": state["rng"]})


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
