"""Options that belong to a format: declared by its backend, refused for any other format
before any work (naming the format's own options), type- and choice-checked, the same through
the CLI and through `model.export`, and a third-party backend's options on the CLI too."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_harness import assert_clean_failure, run_cli, snapshot

from poseexport import PoseModel
from poseexport.errors import UnsupportedOptionError

HERE = Path(__file__).resolve().parent
PLUGIN_ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
              "POSEEXPORT_EXTRA_BACKENDS": "tinted=declared_option_backend:TintedOnnxBackend"}


@pytest.fixture(scope="module")
def tiny() -> PoseModel:
    return PoseModel("posenet-test")


@pytest.fixture
def plugin(monkeypatch):
    """The test-double format registered in this process (as the CLI's environment does)."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("POSEEXPORT_EXTRA_BACKENDS", PLUGIN_ENV["POSEEXPORT_EXTRA_BACKENDS"])


def _refused(model: PoseModel, tmp_path: Path, fmt: str, **kwargs) -> str:
    """The message of a refused model.export; nothing was written (no --out folder)."""
    out = tmp_path / "art"
    with pytest.raises(UnsupportedOptionError) as err:
        model.export(fmt, imgsz=64, out=out, log=lambda *_: None, **kwargs)
    assert not out.exists()
    return str(err.value)


@pytest.mark.parametrize("fmt, kwargs, words", [
    ("torchscript", {"opset": 18}, ("TorchScript export does not use the option 'opset'", "for onnx only",
                                    "torchscript takes: mobile")),
    ("onnx", {"mobile": True}, ("ONNX export does not use the option 'mobile'", "for torchscript only",
                                "onnx takes: opset, simplify")),
    ("torchscript", {"simplify": False}, ("does not use the option 'simplify'", "onnx or openvino")),
    ("openvino", {"opset": 18}, ("OpenVINO export does not use", "openvino takes: simplify")),
], ids=["opset-torchscript", "mobile-onnx", "simplify-torchscript", "opset-openvino"])
def test_export_refuses_another_formats_option(tiny, tmp_path, fmt, kwargs, words):
    text = _refused(tiny, tmp_path, fmt, **kwargs)
    for word in words:
        assert word in text, text


def test_export_refuses_an_unknown_keyword_naming_the_valid_ones(tiny, tmp_path):
    text = _refused(tiny, tmp_path, "onnx", opsett=18)
    for word in ("Unknown export option 'opsett'", "did you mean: opset", "onnx takes: opset, simplify",
                 "every format takes: imgsz, batch"):
        assert word in text, text


@pytest.mark.parametrize("kwargs, words", [
    ({"opset": "18"}, ("ONNX option opset='18' is not valid", "must be an integer, not str")),
    ({"opset": True}, ("opset=True is not valid", "must be an integer, not bool")),
    ({"simplify": 1}, ("simplify=1 is not valid", "must be True or False")),
], ids=["opset-str", "opset-bool", "simplify-int"])
def test_export_refuses_a_value_of_the_wrong_type(tiny, tmp_path, kwargs, words):
    text = _refused(tiny, tmp_path, "onnx", **kwargs)
    for word in (*words, "onnx takes: opset, simplify"):
        assert word in text, text


def test_export_refuses_a_value_outside_the_declared_choices(tiny, tmp_path, plugin):
    text = _refused(tiny, tmp_path, "tinted", tint="neon")
    assert "Tinted ONNX option tint='neon' is not valid" in text and "must be one of plain, sepia" in text, text


def test_third_party_option_is_refused_for_a_builtin_format(tiny, tmp_path, plugin):
    text = _refused(tiny, tmp_path, "onnx", tint="sepia")
    assert "ONNX export does not use the option 'tint'" in text and "for tinted only" in text, text


def test_cli_refuses_a_third_party_option_for_another_format(tmp_path):
    before = snapshot(tmp_path)
    result = run_cli("convert", "--model", "posenet-test", "--imgsz", "64", "--out", tmp_path / "art",
                     "--format", "torchscript", "--tint", "sepia", cwd=tmp_path, env=PLUGIN_ENV)
    assert_clean_failure(result, "TorchScript export does not use --tint", "for tinted only",
                         "torchscript takes: --mobile")
    assert snapshot(tmp_path) == before


def test_cli_refuses_a_choice_the_declaration_does_not_allow(tmp_path):
    result = run_cli("convert", "--model", "posenet-test", "--format", "tinted", "--tint", "neon",
                     cwd=tmp_path, env=PLUGIN_ENV)
    assert_clean_failure(result, "--tint", "invalid choice: 'neon'", "plain", "sepia")
    assert list(tmp_path.iterdir()) == []


def test_cli_shows_third_party_options_in_their_own_group():
    text = run_cli("convert", "--help", env=PLUGIN_ENV).stdout
    group = text[text.index("Tinted ONNX options (--format tinted):"):]
    assert "--tint {plain,sepia}" in group and "a label recorded in the metadata" in group, text
    # the ONNX flags it inherits are listed once, under ONNX, and named as shared
    assert text.count("--opset OPSET ") == 1 and "[onnx, tinted]" in text, text


def test_cli_passes_third_party_and_inherited_options_to_the_export(tmp_path):
    """The plugin's option and the ONNX opset it inherits reach the export and its metadata;
    the options not given are recorded with their declared defaults."""
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "art"
    result = run_cli("convert", "--model", "posenet-test", "--imgsz", "64", "--out", out, "--format", "tinted",
                     "--tint", "sepia", "--opset", "20", "--no-validate", cwd=tmp_path, env=PLUGIN_ENV)
    assert result.returncode == 0, result.output
    options = json.loads((out / "metadata.json").read_text())["options"]
    assert (options["tint"], options["opset"], options["simplify"]) == ("sepia", 20, True)
    assert "mobile" not in options  # another format's option is not recorded
    model = onnx.load(str(next(out.glob("*.onnx"))))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [20]


@pytest.mark.parametrize("fmt, device, words", [
    ("openvino", "cuda", ("OpenVINO artifacts cannot be built for cuda:0", "runs on cpu only",
                          "pass --device cpu", "torchscript or onnx")),
    ("onnx", "gpu:x", ("Unknown device 'gpu:x'", "valid choices: cpu, cuda, cuda:N")),
], ids=["openvino-cuda", "unparsable"])
def test_cli_refuses_a_device_the_format_does_not_run_on(tmp_path, fmt, device, words):
    before = snapshot(tmp_path)
    result = run_cli("convert", "--model", "posenet-test", "--imgsz", "64", "--out", tmp_path / "art",
                     "--format", fmt, "--device", device, cwd=tmp_path)
    assert_clean_failure(result, *words)
    assert snapshot(tmp_path) == before


def test_export_refuses_a_device_the_format_does_not_run_on(tiny, tmp_path):
    text = _refused(tiny, tmp_path, "openvino", device="cuda:1")
    assert "OpenVINO artifacts cannot be built for cuda:1" in text and "runs on cpu only" in text, text


def test_simplify_without_onnxslim_is_an_error_not_a_silent_skip(tmp_path, monkeypatch):
    import sys

    import torch

    from poseexport import PoseModel
    from poseexport.errors import MissingDependencyError

    torch.manual_seed(0)
    model = PoseModel("posenet-test")
    monkeypatch.setitem(sys.modules, "onnxslim", None)  # import onnxslim now raises ImportError
    with pytest.raises(MissingDependencyError, match="needs onnxslim") as err:
        model.export("onnx", imgsz=64, out=tmp_path / "a", log=lambda *_: None)
    assert "or pass --no-simplify" in str(err.value)
    assert not (tmp_path / "a").exists()
    artifact = model.export("onnx", imgsz=64, simplify=False, out=tmp_path / "b", log=lambda *_: None)
    assert artifact.metadata.options["simplify"] is False
