"""poseexport: YOLO-style pose networks, trained and compiled for every runtime.

Importing this package imports torch and numpy only; every export toolchain is
imported inside the backend that needs it.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import PoseExportError  # noqa: E402
from .model import PoseModel  # noqa: E402



def load(path, device: str = "cpu", threads: int | None = None):
    """Open any exported artifact (file or folder) as a Runner; see poseexport.runtime."""
    from .runtime import load as _load

    return _load(path, device=device, threads=threads)


__all__ = ["PoseModel", "PoseExportError", "load", "__version__"]
