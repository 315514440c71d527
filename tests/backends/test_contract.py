"""The backend contract, parametrised over the registry, on the tiny test network.

export -> load (by folder and by a renamed bare file) -> compare with PyTorch; metadata
and manifest; refusals; a crashing converter leaves nothing behind. A backend that
cannot run here is skipped with its own availability() reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import poseexport
from poseexport.contract.registry import get_backend, registered
from poseexport.errors import (
    BadArtifactError,
    ExportFailedError,
    UnsupportedOptionError,
)
from poseexport.metadata import Metadata

# every registered format, plus test doubles of the shapes the next formats have: NHWC uint8
# input, conversion out of process (the export-here-run-elsewhere double: test_export_here_run_there.py)
DOUBLE_FORMATS = {"nhwc-u8": "contract_doubles:NhwcUint8Backend", "oop-ok": "oop_doubles:OopOkBackend"}
FORMATS = sorted(registered()) + sorted(DOUBLE_FORMATS)
IMGSZ = 64


@pytest.fixture(autouse=True)
def register_doubles(monkeypatch):
    from poseexport.contract.registry import EXTRA_BACKENDS_ENV

    monkeypatch.setenv(EXTRA_BACKENDS_ENV, ",".join(f"{k}={v}" for k, v in DOUBLE_FORMATS.items()))
    # the out-of-process double's converter process imports its module from this folder
    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))


def available_backend(name):
    """The backend, when its artifacts both export and run here (else skipped with the reason)."""
    backend = get_backend(name)
    for available in (backend.availability(), backend.export_availability()):
        if not available:
            pytest.skip(f"{name}: {available.reason}")
    return backend


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            available_backend(name)
            out = tmp_path_factory.mktemp(name) / "artifact"
            cache[name] = tiny.export(name, imgsz=IMGSZ, out=out, log=lambda *_: None)
        return cache[name]
    return get


@pytest.mark.parametrize("name", FORMATS)
def test_export_load_matches_pytorch(name, tiny_reference, exported):
    artifact = exported(name)
    assert artifact.report.passed, artifact.report.table()
    x = np.random.default_rng(1).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    expected = tiny_reference(x)
    with poseexport.load(artifact.path) as runner:
        got = runner.forward(x)
        assert runner.names == {0: "person"} and runner.kpt_shape == (17, 3)
    assert got.shape == expected.shape == (1, 56, 84)
    assert float(np.abs(got - expected).max()) < 1e-3


@pytest.mark.parametrize("name", FORMATS)
def test_metadata_and_manifest(name, exported):
    artifact = exported(name)
    meta = Metadata.from_json((artifact.path / "metadata.json").read_text())
    assert meta.format == name and meta.precision.name == "fp32"
    assert meta.model.kpt_shape == (17, 3) and meta.model.names == {0: "person"}
    assert meta.model.keypoint_names[0] == "nose" and len(meta.model.skeleton) == 19
    assert meta.inputs[0].shape[-2:] == (IMGSZ, IMGSZ) or meta.inputs[0].shape[1:3] == (IMGSZ, IMGSZ)
    assert meta.outputs[0].channels[:5] == ("cx", "cy", "w", "h", "score:person")
    assert meta.validation["passed"] is True
    manifest = json.loads((artifact.path / "manifest.json").read_text())
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((artifact.path / rel).read_bytes()).hexdigest() == digest
    assert "metadata.json" in manifest["files"]


@pytest.mark.parametrize("name", FORMATS)
def test_renamed_artifact_loads_from_native_metadata(name, exported, tmp_path):
    artifact = exported(name)
    main = artifact.main_file
    if get_backend(name).suffix:  # a single-file format
        moved = tmp_path / f"best{main.suffix}x"  # new name, odd suffix, no sidecar beside it
        shutil.copy(main, moved)
    else:  # a folder format (OpenVINO xml + bin, TF.js model.json + shards): the folder, without sidecars
        folder = tmp_path / "renamed"
        shutil.copytree(artifact.path, folder)
        (folder / "metadata.json").unlink()
        (folder / "manifest.json").unlink()
        moved = folder / main.relative_to(artifact.path)  # the file a user would point at
    if not get_backend(name).native_metadata:  # no slot in the files: without the sidecar, a clear refusal
        with pytest.raises(BadArtifactError, match="carries no poseexport metadata"):
            poseexport.load(moved)
        return
    with poseexport.load(moved) as runner:
        assert runner.metadata.format == name
        assert runner.names == {0: "person"} and runner.kpt_shape == (17, 3)


@pytest.mark.parametrize("name", FORMATS)
def test_unsupported_precision_is_refused_with_choices(name, tiny, tmp_path):
    backend = available_backend(name)
    if "int8" in backend.capabilities.precisions:
        pytest.skip(f"{name} supports every precision")
    why = backend.capabilities.refused.get("int8")  # a format that says why it has no int8 says so
    expected = why[:40] if why else "supports " + ", ".join(backend.capabilities.precisions)
    with pytest.raises(UnsupportedOptionError, match=re.escape(expected)):
        tiny.export(name, imgsz=IMGSZ, int8=True, data=str(tmp_path), out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_crashing_converter_leaves_nothing_behind(tiny, tmp_path, monkeypatch):
    backend = get_backend("torchscript")

    def crash(*_args, **_kw):
        (_args[2] / "half-written.bin").write_bytes(b"\0" * 100)
        raise RuntimeError("converter segfaulted (simulated)")

    monkeypatch.setattr(backend, "export", crash)
    with pytest.raises(ExportFailedError, match="converter segfaulted"):
        tiny.export("torchscript", imgsz=IMGSZ, out=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_int8_without_data_names_the_option(tiny, tmp_path):
    with pytest.raises(UnsupportedOptionError, match="--data"):
        tiny.export("onnx", imgsz=IMGSZ, int8=True, out=tmp_path / "x")


def test_too_few_calibration_images_refused_unless_forced(tiny, data_dir, tmp_path):
    with pytest.raises(UnsupportedOptionError, match="--force"):
        tiny.export("onnx", imgsz=IMGSZ, int8=True, data=str(data_dir / "images"), out=tmp_path / "x")


def test_unknown_format_suggests():
    with pytest.raises(UnsupportedOptionError, match="did you mean: onnx"):
        get_backend("onxx")


@pytest.mark.parametrize("name", FORMATS)
def test_dynamic_export_runs_at_two_sizes(name, tiny, tiny_reference, tmp_path):
    backend = available_backend(name)
    if not backend.capabilities.dynamic:
        with pytest.raises(UnsupportedOptionError, match="dynamic"):
            tiny.export(name, imgsz=IMGSZ, dynamic=True, out=tmp_path / "d")
        return
    artifact = tiny.export(name, imgsz=IMGSZ, dynamic=True, out=tmp_path / "d", log=lambda *_: None)
    assert artifact.metadata.inputs[0].shape == ("batch", 3, "height", "width")
    rng = np.random.default_rng(2)
    with poseexport.load(artifact.path) as runner:
        for shape, anchors in (((1, 3, 64, 64), 84), ((3, 3, 96, 128), 252)):
            x = rng.random(shape, dtype=np.float32)
            got = runner.forward(x)
            assert got.shape == (shape[0], 56, anchors)
            assert float(np.abs(got - tiny_reference(x)).max()) < 1e-3


def test_folder_without_sidecars_loads_by_content(exported, tmp_path):
    artifact = exported("openvino")
    folder = tmp_path / "bare"
    shutil.copytree(artifact.path, folder)
    (folder / "metadata.json").unlink()
    (folder / "manifest.json").unlink()
    with poseexport.load(folder) as runner:
        assert runner.metadata.format == "openvino" and runner.kpt_shape == (17, 3)


@pytest.mark.parametrize("name", FORMATS)
def test_selftest_gives_the_export_verdict(name, exported):
    from poseexport.selftest import selftest

    artifact = exported(name)
    lines = []
    assert selftest(artifact.path, log=lines.append) is True
    assert "PASSED" in lines[-1]


def test_nhwc_uint8_artifact_predicts_like_onnx(exported, data_dir):
    """The double's runner takes only NHWC uint8: predict through it equals the ONNX artifact's."""
    from poseexport.artifact_model import ArtifactModel

    nhwc = ArtifactModel(exported("nhwc-u8").path)
    spec = nhwc.metadata.inputs[0]
    assert (spec.layout, spec.dtype, spec.scale, spec.shape) == ("NHWC", "uint8", 1.0, (1, IMGSZ, IMGSZ, 3))
    image = str(data_dir / "images" / "bus.jpg")
    a = nhwc.predict(image, imgsz=IMGSZ, conf=0.01)[0]
    b = ArtifactModel(exported("onnx").path).predict(image, imgsz=IMGSZ, conf=0.01)[0]
    assert len(a.boxes.xyxy) == len(b.boxes.xyxy) > 0
    assert float(np.abs(a.keypoints.xy - b.keypoints.xy).max()) < 1e-3
