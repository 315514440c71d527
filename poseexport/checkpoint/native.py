"""poseexport's own checkpoint: tensors plus JSON, safe to load by construction.

The file is a torch zip whose pickle holds only a dict of strings, numbers and
tensors (the architecture and facts are JSON strings), so it passes the same
restricted unpickler as everything else and never needs code to load.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

FORMAT_TAG = "poseexport-checkpoint"
FORMAT_VERSION = 1


def save_native(path: str | Path, state_dict: dict[str, torch.Tensor], config: dict, facts: dict,
                extra: dict | None = None) -> Path:
    """Write atomically (temp file + rename): a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT_TAG,
        "format_version": FORMAT_VERSION,
        "config_json": json.dumps(config),
        "facts_json": json.dumps(facts, default=str),
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
    }
    payload.update(extra or {})
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def is_native_checkpoint(obj) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT_TAG


def read_native(obj: dict) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    """(config, facts, state_dict) from an unpickled native checkpoint."""
    return json.loads(obj["config_json"]), json.loads(obj["facts_json"]), dict(obj["state_dict"])
