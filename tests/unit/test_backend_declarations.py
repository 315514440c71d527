"""What a backend declares it needs (contract/backend.py): modules to export, modules to run,
programs on PATH; each missing one named with its fix; toolchain versions read from package
metadata without importing the toolchain; the converter timeout and its override."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

from poseexport.contract import Backend
from poseexport.contract.converter_process import TIMEOUT_ENV
from poseexport.contract.versions import module_version as installed_version
from poseexport.errors import UnsupportedOptionError


class Declared(Backend):
    name = "declared"
    title = "Declared (test)"
    extra = "declared"
    suffix = ".bin"
    export_requires = ("json", "no_such_module_for_export")
    run_requires = ("json",)
    binaries = {"no-such-compiler-x7": "install it from https://example.invalid/compiler", "sh": "any shell"}


def test_the_export_side_names_each_missing_module_and_program_with_its_fix():
    reason = Declared().export_availability().reason
    assert not Declared().export_availability()
    assert "exporting needs the Python module no_such_module_for_export: pip install 'poseexport[declared]'" in reason
    assert "exporting needs the program no-such-compiler-x7 on PATH: install it from https://example.invalid" in reason
    assert "json" not in reason and "program sh" not in reason  # present ones are not named


def test_the_run_side_is_checked_on_its_own():
    assert Declared().availability().ok  # only json is needed to run

    class RunsElsewhere(Declared):
        run_requires = ("no_such_runtime_a", "no_such_runtime_b")
        extra = None

    reason = RunsElsewhere().availability().reason
    assert reason == ("running needs the Python modules no_such_runtime_a, no_such_runtime_b: "
                      "pip install no_such_runtime_a no_such_runtime_b")


def test_a_plugin_still_declaring_requires_is_refused():
    with pytest.raises(TypeError, match="export_requires"):
        type("Old", (Backend,), {"requires": ("onnx",)})


def test_versions_come_from_package_metadata():
    assert installed_version("numpy") == importlib.metadata.version("numpy")
    assert installed_version("yaml") == importlib.metadata.version("pyyaml")  # module != distribution
    assert installed_version("no_such_module_for_export") is None


def test_toolchain_versions_import_no_toolchain():
    pytest.importorskip("onnx")
    script = """
import json, sys
from poseexport.contract.registry import get_backend, registered
versions = {name: get_backend(name).toolchain_versions() for name in registered()}
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ("onnx", "onnxruntime", "onnxscript", "openvino", "nncf"))
print(json.dumps({"versions": versions, "loaded": loaded}))
"""
    out = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                    check=True).stdout)
    assert out["loaded"] == []
    assert out["versions"]["onnx"]["onnx"] == importlib.metadata.version("onnx")
    assert out["versions"]["onnx"]["onnxruntime"] == importlib.metadata.version("onnxruntime")
    if installed_version("openvino"):
        assert out["versions"]["openvino"] == {"openvino": importlib.metadata.version("openvino"),
                                               "nncf": importlib.metadata.version("nncf")}


def test_the_convert_timeout_is_the_backends_unless_the_user_sets_one(monkeypatch):
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    assert Backend.convert_timeout_s == 1800.0
    assert Declared().converter_timeout_s() == 1800.0
    monkeypatch.setenv(TIMEOUT_ENV, "7200")
    assert Declared().converter_timeout_s() == 7200.0
    for bad in ("soon", "0", "-5"):
        monkeypatch.setenv(TIMEOUT_ENV, bad)
        with pytest.raises(UnsupportedOptionError, match=f"{TIMEOUT_ENV}={bad} is not a time limit"):
            Declared().converter_timeout_s()
