"""Planning the matrix (in-process, no cell runs): unsupported cells with their reason, user
errors for typos, extra backends through the environment variable, --fail-on parsing."""
from __future__ import annotations

import pytest

from poseexport.benchmark.matrix import plan_cells
from poseexport.benchmark.spec import BenchmarkOptions
from poseexport.cli.main import main as cli_main
from poseexport.contract.registry import (
    EXTRA_BACKENDS_ENV,
    extra_backends_from_env,
    get_backend,
    registered,
)
from poseexport.errors import UnsupportedOptionError


def planned(**options) -> dict[str, dict | None]:
    return {cell.name: ready for cell, ready in plan_cells(BenchmarkOptions(**options))}


def test_refused_precisions_and_planned_formats_are_unsupported_rows():
    cells = planned(formats=("torchscript", "coreml", "tensorrt"), precisions=("fp32", "int8"), calib=None)
    assert cells["torchscript-fp32"] is None  # runs
    assert cells["torchscript-int8"]["status"] == "unsupported"
    assert "supports fp32, fp16" in cells["torchscript-int8"]["error"]
    for name in ("coreml-fp32", "coreml-int8", "tensorrt-fp32"):
        assert cells[name]["status"] == "unsupported" and "not implemented" in cells[name]["error"]


def test_int8_without_calibration_images_is_unsupported_with_the_fix():
    cells = planned(formats=("onnx",), precisions=("int8",), calib=None)
    assert "pass --calib" in cells["onnx-int8"]["error"]
    assert planned(formats=("onnx",), precisions=("int8",), calib="calib")["onnx-int8"] is None


def test_a_misspelt_format_is_a_user_error(capsys):
    with pytest.raises(UnsupportedOptionError, match="did you mean: onnx"):
        plan_cells(BenchmarkOptions(formats=("onxx",)))
    assert cli_main(["benchmark", "--formats", "onxx", "--out", "unused"]) == 2
    assert "did you mean: onnx" in capsys.readouterr().err


def test_bad_fail_on_and_precision_are_user_errors(capsys):
    assert cli_main(["benchmark", "--fail-on", "speed"]) == 2
    assert "Use any of: error, parity, accuracy, regression" in capsys.readouterr().err
    assert cli_main(["benchmark", "--precisions", "fp8"]) == 2


def test_extra_backends_join_the_registry_from_the_environment(monkeypatch):
    monkeypatch.setenv(EXTRA_BACKENDS_ENV, "segfault=crash_backends:SegfaultBackend, hang = crash_backends:HangBackend")
    assert extra_backends_from_env() == {"segfault": "crash_backends:SegfaultBackend",
                                         "hang": "crash_backends:HangBackend"}
    table = registered()
    assert table["segfault"] == "crash_backends:SegfaultBackend" and table["onnx"].endswith("OnnxBackend")
    assert type(get_backend("segfault")).__name__ == "SegfaultBackend"


def test_a_malformed_extra_backend_entry_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(EXTRA_BACKENDS_ENV, "segfault:crash_backends")
    with pytest.raises(UnsupportedOptionError, match="must read name=module:Class"):
        registered()
