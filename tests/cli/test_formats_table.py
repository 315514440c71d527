"""`poseexport formats` lists each format's devices and its own options, read from the
declarations, for built-in and third-party formats (one declared through a Source too)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
PLUGINS = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS / "bad_inputs"), str(TESTS / "export"),
                                                        os.environ.get("PYTHONPATH")])),
           "POSEEXPORT_EXTRA_BACKENDS": "tinted=declared_option_backend:TintedOnnxBackend,"
                                        "onnx-int8-chain=chain_doubles:Int8ChainBackend"}


def test_formats_json_lists_devices_and_options():
    proc = subprocess.run([sys.executable, "-m", "poseexport", "formats", "--json"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **PLUGINS})
    assert proc.returncode == 0, proc.stderr
    rows = {row["argument"]: row for row in json.loads(proc.stdout)}
    assert rows["openvino"]["devices"] == ["cpu"] and rows["torchscript"]["devices"] == ["cpu", "cuda"]
    assert [o["flag"] for o in rows["onnx"]["options"]] == ["--opset", "--no-simplify"]
    assert rows["onnx"]["options"][1] | {"help": ""} == {"name": "simplify", "flag": "--no-simplify", "type": "bool",
                                                         "default": True, "choices": None, "help": ""}
    assert [o["name"] for o in rows["tinted"]["options"]] == ["opset", "simplify", "tint"]
    assert rows["tinted"]["options"][2]["choices"] == ["plain", "sepia"]
    assert rows["onnx-int8-chain"]["source"] == "onnx int8" and rows["onnx-int8-chain"]["options"] == []
