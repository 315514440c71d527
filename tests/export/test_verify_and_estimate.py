"""poseexport.load verifies the manifest (Python API); validation status lines; the memory estimate."""
from __future__ import annotations

import shutil

import pytest

import poseexport
from poseexport import PoseModel
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.export.memory_estimate import activation_bytes_per_pixel, check_memory
from poseexport.export.options import ExportOptions
from poseexport.metadata import Metadata
from poseexport.validation_status import NOT_RUN, status_of, warning_line


@pytest.fixture(scope="module")
def onnx_artifact(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    import torch

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("verify") / "art"
    return PoseModel("posenet-test").export("onnx", imgsz=64, out=out, log=lambda *_: None).path


def test_load_refuses_a_modified_file_and_verify_false_opens_it(onnx_artifact, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(onnx_artifact, folder)
    golden = folder / "golden.npz"
    golden.write_bytes(golden.read_bytes() + b"\0")
    with pytest.raises(BadArtifactError, match=r"golden.npz was modified \(sha256 expected [0-9a-f]{12}…"):
        poseexport.load(folder)
    with poseexport.load(folder, verify=False) as runner:
        assert runner.kpt_shape == (17, 3)


def test_every_problem_is_reported_at_once(onnx_artifact, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(onnx_artifact, folder)
    (folder / "golden.npz").unlink()
    (folder / "metadata.json").write_text((folder / "metadata.json").read_text() + " ")
    with pytest.raises(BadArtifactError) as err:
        poseexport.load(folder)
    assert "2 files differ" in str(err.value)
    assert "golden.npz is missing" in str(err.value) and "metadata.json was modified" in str(err.value)


def test_a_validated_export_says_passed(onnx_artifact):
    meta = Metadata.from_json((onnx_artifact / "metadata.json").read_text())
    assert meta.validation["status"] == "passed" and meta.validation["passed"] is True
    assert warning_line(meta, "x") is None
    failed = meta.with_validation({**meta.validation, "status": "failed", "passed": False})
    assert "x FAILED validation against its PyTorch model" in warning_line(failed, "x")
    assert "without validation" in warning_line(meta.with_validation({"status": NOT_RUN}), "x")


def test_status_of_older_and_unvalidated_blocks():
    assert status_of(None) == "unknown"
    assert status_of({"passed": False, "checks": []}) == "failed"  # written before 'status' existed
    assert status_of({"status": NOT_RUN}) == NOT_RUN


@pytest.mark.parametrize("imgsz", [640, 1280, 1920])
def test_usual_sizes_pass_the_memory_check(imgsz):
    model = PoseModel("yolo11n-pose.yaml")
    check_memory(model, ExportOptions(imgsz=(imgsz, imgsz)), limit=16e9)


def test_an_absurd_size_is_refused_with_the_estimate_and_the_limit():
    model = PoseModel("yolo11n-pose.yaml")
    per_pixel = activation_bytes_per_pixel(model)
    assert 300 < per_pixel < 1000  # measured export growth: ~500 bytes per pixel (memory_estimate.py)
    with pytest.raises(UnsupportedOptionError, match=r"needs about 5,4\d\d.\d GB .* more than its 16.0 GB"):
        check_memory(model, ExportOptions(imgsz=(100000, 100000)), limit=16e9)
