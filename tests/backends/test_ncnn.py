"""NCNN: what the contract tests do not cover. The fp32 artifact really computes in fp32 (the
runner switches NCNN's fp16 / bf16 paths off), fp16 stores half weights, int8 is refused with
the reason, pnnx's by-products stay out of every folder, and the real yolo11n-pose matches."""
from __future__ import annotations

import numpy as np
import pytest

import poseexport
from poseexport import PoseModel
from poseexport.contract.registry import get_backend
from poseexport.errors import UnsupportedOptionError

IMGSZ = 64
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def backend():
    found = get_backend("ncnn")
    for why in (found.export_availability(), found.availability()):
        if not why:
            pytest.skip(f"ncnn: {why.reason}")
    return found


@pytest.fixture(scope="module")
def fp32(backend, tiny, tmp_path_factory):
    return tiny.export("ncnn", imgsz=IMGSZ, out=tmp_path_factory.mktemp("ncnn") / "fp32", **QUIET)


def test_folder_holds_only_the_ncnn_files_and_sidecars(fp32):
    assert sorted(p.name for p in fp32.path.iterdir()) == [
        "golden.npz", "manifest.json", "metadata.json", "posenet-test.ncnn.bin", "posenet-test.ncnn.param"]
    assert "fp32" in fp32.metadata.precision.notes and "use_fp16_packed" in fp32.metadata.precision.notes


def test_fp32_runner_switches_half_precision_off_and_fp16_keeps_the_defaults(fp32, tiny, tiny_reference, tmp_path):
    x = np.random.default_rng(5).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(fp32.path, threads=1) as runner:
        opt = runner.net.opt
        assert not (opt.use_fp16_storage or opt.use_fp16_arithmetic or opt.use_fp16_packed or opt.use_bf16_storage)
        assert opt.num_threads == 1
        assert float(np.abs(runner.forward(x) - tiny_reference(x)).max()) < 1e-3
    half = tiny.export("ncnn", imgsz=IMGSZ, half=True, out=tmp_path / "fp16", **QUIET)
    assert half.report.passed, half.report.table()
    bin32 = fp32.main_file.with_name("posenet-test.ncnn.bin").stat().st_size
    bin16 = half.main_file.with_name("posenet-test.ncnn.bin").stat().st_size
    assert bin16 < 0.6 * bin32  # fp16 weights
    with poseexport.load(half.path) as runner:
        assert runner.net.opt.use_fp16_storage  # NCNN's default, as validated


def test_a_batch_runs_image_by_image(backend, tiny, tiny_reference, tmp_path):
    artifact = tiny.export("ncnn", imgsz=IMGSZ, batch=2, out=tmp_path / "b2", **QUIET)
    x = np.random.default_rng(6).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(artifact.path) as runner:
        assert float(np.abs(runner.forward(x) - tiny_reference(x)).max()) < 1e-3


def test_int8_is_refused_with_the_reason_before_any_work(backend, tiny, tmp_path):
    with pytest.raises(UnsupportedOptionError, match="ncnn2table") as err:
        tiny.export("ncnn", imgsz=IMGSZ, int8=True, data=str(tmp_path), out=tmp_path / "x", **QUIET)
    assert "fp32 or fp16" in str(err.value)
    assert not (tmp_path / "x").exists()


def test_a_folder_without_the_sidecar_is_refused_clearly(fp32, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(fp32.path, bare)
    (bare / "metadata.json").unlink()
    (bare / "manifest.json").unlink()
    assert get_backend("ncnn").sniff(bare)  # still recognised as NCNN by its magic line
    with pytest.raises(poseexport.errors.BadArtifactError, match="no poseexport metadata"):
        poseexport.load(bare)


@pytest.mark.slow
def test_real_model_fp32_matches_pytorch(backend, data_dir, tmp_path):
    model = PoseModel(str(data_dir / "weights" / "yolo11n-pose.pt"))
    artifact = model.export("ncnn", out=tmp_path / "fp32", **QUIET)
    stats = artifact.report.stats
    # measured (Intel Xeon, AVX-512 + AMX): box 5.2e-4 px, keypoints 5.2e-4 px, score 3.2e-6,
    # matched keypoints 3.1e-5 px; NCNN's defaults give the same numbers on x86
    assert artifact.report.passed, artifact.report.table()
    assert stats["box_max"] < 0.01 and stats["kpt_xy_max"] < 0.01 and stats["score_max_all"] < 1e-4
    assert stats["match_ratio"] == 1.0 and stats["kpt_px_mean"] < 1e-3
