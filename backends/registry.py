"""Backend registry: format names -> "module:Class", imported on first use.

Third-party formats join through the entry-point group `poseexport.backends`
(name = "package.module:BackendClass").
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from importlib import metadata as _entry_points

from poseexport.errors import UnsupportedOptionError

from .base import Backend

BUILTIN = {
    "torchscript": "poseexport.backends.torchscript:TorchScriptBackend",
    "onnx": "poseexport.backends.onnx:OnnxBackend",
    "openvino": "poseexport.backends.openvino:OpenVinoBackend",
}
ENTRY_POINT_GROUP = "poseexport.backends"


def registered() -> dict[str, str]:
    """Every known format name -> import path (built-ins, then entry points)."""
    table = dict(BUILTIN)
    for ep in _entry_points.entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(ep.name, ep.value)
    return table


@lru_cache(maxsize=None)
def get_backend(name: str) -> Backend:
    table = registered()
    if name not in table:
        import difflib

        close = difflib.get_close_matches(name, list(table), n=2)
        raise UnsupportedOptionError(
            f"Unknown export format '{name}'",
            "it is neither built in nor registered through the 'poseexport.backends' entry points",
            f"use one of: {', '.join(table)}",
            [f"did you mean: {', '.join(close)}"] if close else None)
    module_name, _, class_name = table[name].partition(":")
    backend_cls = getattr(importlib.import_module(module_name), class_name)
    return backend_cls()
