"""Backend registry: format names -> "module:Class", imported on first use.

Third-party formats join through the entry-point group `poseexport.backends`
(name = "package.module:BackendClass"). Backends that are not installed as a package
(a test double, a format being developed) join through the environment variable
`POSEEXPORT_EXTRA_BACKENDS="name=module:Class,other=module:Class"`; it is read on every
lookup, so subprocesses (the benchmark's cells) see the same formats as their parent.
"""
from __future__ import annotations

import importlib
import os
from functools import cache
from importlib import metadata as _entry_points

from poseexport.errors import UnsupportedOptionError

from .backend import Backend

BUILTIN = {
    "torchscript": "poseexport.backends.torchscript:TorchScriptBackend",
    "onnx": "poseexport.backends.onnx:OnnxBackend",
    "openvino": "poseexport.backends.openvino:OpenVinoBackend",
    "saved_model": "poseexport.backends.saved_model:SavedModelBackend",
    "tflite": "poseexport.backends.tflite:TfliteBackend",
    "pb": "poseexport.backends.graphdef:GraphDefBackend",
    "edgetpu": "poseexport.backends.edgetpu:EdgeTpuBackend",
    "tfjs": "poseexport.backends.tfjs:TfjsBackend",
    "ncnn": "poseexport.backends.ncnn:NcnnBackend",
    "mnn": "poseexport.backends.mnn:MnnBackend",
    "paddle": "poseexport.backends.paddle:PaddleBackend",
    "executorch": "poseexport.backends.executorch:ExecuTorchBackend",
}
ENTRY_POINT_GROUP = "poseexport.backends"
EXTRA_BACKENDS_ENV = "POSEEXPORT_EXTRA_BACKENDS"


def registered() -> dict[str, str]:
    """Every known format name -> import path (built-ins, entry points, then the env variable)."""
    table = dict(BUILTIN)
    for ep in _entry_points.entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(ep.name, ep.value)
    for name, target in extra_backends_from_env().items():
        table.setdefault(name, target)
    return table


def extra_backends_from_env() -> dict[str, str]:
    """`POSEEXPORT_EXTRA_BACKENDS="name=module:Class,..."` parsed; a malformed entry is an error."""
    text = os.environ.get(EXTRA_BACKENDS_ENV, "").strip()
    table = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, _, target = entry.partition("=")
        module, _, cls = target.partition(":")
        if not name.strip() or not module.strip() or not cls.strip():
            raise UnsupportedOptionError(
                f"{EXTRA_BACKENDS_ENV} has a malformed entry '{entry}'",
                "each entry must read name=module:Class",
                f"fix or unset {EXTRA_BACKENDS_ENV} (example: mine=my_package.backend:MyBackend)")
        table[name.strip()] = f"{module.strip()}:{cls.strip()}"
    return table


@cache
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
