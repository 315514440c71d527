"""Format options along a chain of sources (export/pipeline.py upstream_options): the upstream
gets the downstream's options that it declares itself (OpenVINO's simplify is for its ONNX
source), never another format's, plus the options the source declaration names; those are
checked against the upstream's declarations like a user's."""
from __future__ import annotations

import pytest

from poseexport.contract import Source
from poseexport.errors import UnsupportedOptionError
from poseexport.export.options import ExportOptions
from poseexport.export.pipeline import upstream_options

pytest.importorskip("onnx")


def test_a_declared_option_is_passed_to_the_source_of_the_same_name():
    up = upstream_options(ExportOptions(format="openvino", half=True, format_options={"simplify": False}),
                          Source("onnx"))
    assert (up.format, up.precision, dict(up.format_options)) == ("onnx", "fp32", {"simplify": False})
    assert up.option("simplify") is False and up.option("opset") is None
    assert up.record()["simplify"] is False  # what the upstream's own metadata records


def test_an_option_the_source_does_not_declare_stays_downstream():
    up = upstream_options(ExportOptions(format="openvino", format_options={"simplify": True, "mobile": True}),
                          Source("onnx"))
    assert dict(up.format_options) == {"simplify": True}


def test_the_source_declaration_sets_shared_and_format_options():
    up = upstream_options(ExportOptions(format="openvino", golden=True),
                          Source("onnx", precision="fp16", options={"opset": 20, "golden": False}))
    assert (up.precision, up.golden, up.option("opset")) == ("fp16", False, 20)


@pytest.mark.parametrize("options, words", [
    ({"opset": 5}, ("ONNX opset 5 cannot be exported",)),
    ({"mobile": True}, ("ONNX export does not use the option 'mobile'", "for torchscript only")),
], ids=["opset-out-of-range", "another-formats-option"])
def test_a_source_declaring_an_option_its_format_refuses_is_refused(options, words):
    with pytest.raises(UnsupportedOptionError) as err:
        upstream_options(ExportOptions(format="openvino"), Source("onnx", options=options))
    for word in words:
        assert word in str(err.value), err.value
