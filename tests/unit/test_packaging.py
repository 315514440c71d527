"""Packaging: every sub-package is declared, and every module imports with the core alone."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import tomllib

import poseexport

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"poseexport." + p.parent.relative_to(ROOT / "poseexport").as_posix().replace("/", ".")
             for p in (ROOT / "poseexport").rglob("__init__.py") if p.parent != ROOT / "poseexport"}
    assert found | {"poseexport", "poseexport.backends", "poseexport.model_zoo"} <= listed


def test_import_poseexport_loads_no_toolchain():
    code = ("import sys, poseexport, poseexport.contract.registry; "
            "heavy = [m for m in ('onnx', 'onnxruntime', 'openvino', 'nncf', 'tensorflow', 'coremltools') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_module_imports():
    failures = []
    for info in pkgutil.walk_packages(poseexport.__path__, "poseexport."):
        if info.name == "poseexport.__main__":
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as err:  # optional toolchains must be imported lazily, inside functions
            failures.append(f"{info.name}: {err}")
    assert failures == []
