"""Converter functions for the tests of run_converter(python=...): they run under another
interpreter, where poseexport is not installed (test_converter_interpreter.py). Standard
library and poseexport's core only."""
from __future__ import annotations

import os
import sys


def convert_where(request: dict) -> dict:
    """Which interpreter and environment the converter got, and where poseexport came from."""
    import importlib.util

    import poseexport
    from poseexport.contract.converter_process import read_metadata  # noqa: F401  (the core imports)

    return {"executable": sys.executable, "prefix": sys.prefix, "poseexport": poseexport.__file__,
            "torch_found": importlib.util.find_spec("torch") is not None,
            "onnx_found": importlib.util.find_spec("onnx") is not None,
            # the worker's own folder (poseexport/contract: tensors.py, backend.py) is not on sys.path
            "tensors_found": importlib.util.find_spec("tensors") is not None,
            "environ": {k: os.environ.get(k) for k in ("PIP_NO_INDEX", "HTTPS_PROXY", "PYTHONNOUSERSITE")},
            "request": request}


def convert_raise(request: dict) -> dict:
    raise RuntimeError("the foreign converter failed on purpose")
