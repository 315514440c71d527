"""Chains of sources: a backend names its upstream with a precision; the pipeline builds it once
per (format, precision, options), the upstream keeps its own metadata, and it is validated
before the next stage uses it."""
from __future__ import annotations

import pytest
import torch
from chain_doubles import DOUBLES

from poseexport import PoseModel
from poseexport.backends.onnx import OnnxBackend
from poseexport.contract import Source
from poseexport.contract.registry import EXTRA_BACKENDS_ENV, get_backend
from poseexport.errors import ExportFailedError
from poseexport.export.calibration import load_calibration
from poseexport.export.context import ExportContext
from poseexport.export.options import ExportOptions
from poseexport.export.pipeline import base_metadata, build_source
from poseexport.export.trace import trace_model

IMGSZ = 64
pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def doubles(monkeypatch):
    monkeypatch.setenv(EXTRA_BACKENDS_ENV, ",".join(f"{k}={v}" for k, v in DOUBLES.items()))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return PoseModel("posenet-test")


def calibration_options(data_dir, **kw) -> ExportOptions:
    return ExportOptions(imgsz=(IMGSZ, IMGSZ), data=str(data_dir / "calib-people"), fraction=0.2, **kw)


def test_int8_upstream_is_built_validated_and_recorded(tiny, data_dir, tmp_path):
    lines = []
    artifact = tiny.export(format="onnx-int8-chain", imgsz=IMGSZ, int8=True, data=str(data_dir / "calib-people"),
                           fraction=0.2, out=tmp_path / "chain", log=lines.append)
    assert any(line.startswith("upstream onnx int8: validated") for line in lines), lines
    meta = artifact.metadata
    assert meta.format == "onnx-int8-chain" and meta.precision.name == "int8"
    assert meta.precision.calibration.images == 42 and "QInt8" in meta.precision.calibration.method
    assert meta.validation["passed"] is True


def test_each_upstream_is_built_once_per_precision(tiny, data_dir, tmp_path, monkeypatch):
    built = []
    real_export = OnnxBackend.export

    def counting(self, ctx, source, out_dir):
        built.append(ctx.options.precision)
        return real_export(self, ctx, source, out_dir)

    monkeypatch.setattr(OnnxBackend, "export", counting)
    options = calibration_options(data_dir, format="onnx-int8-chain", int8=True)
    traced = trace_model(tiny, options, tmp_path)
    backend = get_backend("onnx-int8-chain")
    ctx = ExportContext(options=options, traced=traced, metadata=base_metadata(backend, traced, options),
                        work_dir=tmp_path, calibration=load_calibration(options, traced.facts.stride))
    first = build_source(Source("onnx", precision="int8"), ctx, log=lambda *_: None)
    again = build_source(Source("onnx", precision="int8"), ctx, log=lambda *_: None)
    half = build_source(Source("onnx", precision="fp16"), ctx, log=lambda *_: None)
    assert first is again and half is not first
    assert built == ["int8", "fp16"]
    # each upstream's metadata is its own: its precision, and calibration only where it quantised
    assert first.metadata.precision.name == "int8" and first.metadata.precision.calibration is not None
    assert half.metadata.precision.name == "fp16" and half.metadata.precision.calibration is None


def test_an_upstream_that_fails_validation_stops_the_chain(tiny, tmp_path):
    with pytest.raises(ExportFailedError, match="intermediate .* does not match") as err:
        tiny.export(format="on-broken", imgsz=IMGSZ, out=tmp_path / "out", log=lambda *_: None)
    assert "keypoint" in str(err.value)
    assert list(tmp_path.iterdir()) == []
