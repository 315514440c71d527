"""Where things live: the shared test data, the user cache, the model zoo."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "yolo11n-pose.pt"  # what every command runs on when no --model is given


def user_cache_dir() -> Path:
    """The per-user cache for downloaded weights (`$POSEEXPORT_CACHE_DIR` overrides)."""
    env = os.environ.get("POSEEXPORT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "poseexport"


def shared_data_dir() -> Path:
    """The real test data (`$POSEEXPORT_DATA`, default `../shared/data` from the repo root)."""
    env = os.environ.get("POSEEXPORT_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (PACKAGE_DIR.parent.parent / "shared" / "data").resolve()
