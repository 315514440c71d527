"""The format-option declaration and how ExportOptions carries format options (core only)."""
from __future__ import annotations

import json

import pytest

from poseexport.contract import FormatOption
from poseexport.contract.format_option import OptionValues
from poseexport.export.options import CORE_OPTIONS, ExportOptions


@pytest.mark.parametrize("option, flag", [
    (FormatOption("simplify", bool, True, ""), "--no-simplify"),
    (FormatOption("mobile", bool, False, ""), "--mobile"),
    (FormatOption("max_workspace", int, None, ""), "--max-workspace"),
    (FormatOption("x", str, "a", "", flag="--x-mode"), "--x-mode"),
], ids=["bool-on", "bool-off", "int", "explicit"])
def test_cli_flag_follows_the_name_and_a_bools_default(option, flag):
    assert option.cli_flag == flag


@pytest.mark.parametrize("option, value, problem", [
    (FormatOption("n", int, None, ""), 3, None),
    (FormatOption("n", int, None, ""), None, None),  # None: the format's default
    (FormatOption("n", int, 4, ""), None, "must be an integer, not NoneType"),
    (FormatOption("n", int, None, ""), True, "must be an integer, not bool"),
    (FormatOption("n", int, None, ""), 3.0, "must be an integer, not float"),
    (FormatOption("f", float, 1.0, ""), 2, None),
    (FormatOption("f", float, 1.0, ""), "2", "must be a number"),
    (FormatOption("b", bool, False, ""), 0, "must be True or False"),
    (FormatOption("s", str, "a", "", choices=("a", "b")), "b", None),
    (FormatOption("s", str, "a", "", choices=("a", "b")), "c", "must be one of a, b"),
])
def test_values_are_checked_against_the_declaration(option, value, problem):
    found = option.problem(value)
    assert found == problem if problem is None else problem in found


def test_a_declaration_needs_a_flag_friendly_type_and_a_bool_default():
    with pytest.raises(TypeError):
        FormatOption("shape", tuple, (), "")
    with pytest.raises(TypeError):
        FormatOption("flag", bool, None, "")


def test_from_kwargs_splits_shared_from_format_options():
    options = ExportOptions.from_kwargs("onnx", imgsz=(64, 64), half=True, opset=20, simplify=False)
    assert (options.format, options.imgsz, options.half) == ("onnx", (64, 64), True)
    assert dict(options.format_options) == {"opset": 20, "simplify": False}
    assert "opset" not in CORE_OPTIONS and "device" in CORE_OPTIONS and "format_options" not in CORE_OPTIONS


def test_option_reads_the_given_value_else_the_declared_default():
    assert ExportOptions(format="onnx", format_options={"opset": 21}).option("opset") == 21
    assert ExportOptions(format="onnx").option("simplify") is True
    assert ExportOptions(format="torchscript").option("mobile") is False
    assert ExportOptions(format="openvino").option("simplify") is True
    for fmt in ("torchscript", "openvino"):  # an option the format does not declare has no default
        with pytest.raises(KeyError):
            ExportOptions(format=fmt).option("opset")


def test_options_stay_a_frozen_hashable_value():
    a = ExportOptions(format="onnx", format_options={"opset": 20})
    b = ExportOptions(format="onnx", format_options={"opset": 20})
    assert a == b and hash(a) == hash(b) and a != ExportOptions(format="onnx")
    assert isinstance(a.format_options, OptionValues)
    with pytest.raises(TypeError):
        a.format_options["opset"] = 21


def test_record_keeps_the_formats_own_options_with_defaults():
    record = ExportOptions(format="onnx", out="somewhere", format_options={"simplify": False}).record()
    assert (record["simplify"], record["opset"], record["format"]) == (False, None, "onnx")
    assert "out" not in record and "format_options" not in record and "mobile" not in record
    json.dumps(record)  # the metadata stores it as JSON
    assert ExportOptions(format="torchscript").record()["mobile"] is False
