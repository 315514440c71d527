"""poseexport: YOLO-style pose networks, trained and compiled for every runtime.

Importing this package imports nothing heavy: `PoseModel` (and with it torch) is imported
on first use through the module `__getattr__`, so a device that only runs artifacts
(`poseexport.load`, `poseexport selftest`) needs numpy and its runtime, not torch. Every
export toolchain is imported inside the backend that needs it.
"""
from __future__ import annotations

from .errors import PoseExportError
from .version import __version__

_LAZY = {"PoseModel": ".model"}  # public name -> module that defines it (imports torch)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'poseexport' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load(path, device: str = "cpu", threads: int | None = None, verify: bool = True):
    """Open any exported artifact (file or folder) as a Runner, its files first checked against
    its manifest (`verify=False`: not checked); see poseexport.runtime."""
    from .runtime import load as _load

    return _load(path, device=device, threads=threads, verify=verify)


__all__ = ["PoseExportError", "PoseModel", "__version__", "load"]
