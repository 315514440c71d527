"""OpenVINO backend: IR export at fp32 / fp16 / int8, rt_info metadata, the f32 runtime hint.

Fast tests use the tiny random `posenet-test` network at 64x64; the slow ones export the
real yolo11n-pose and check the numbers measured on the shared real images.
"""
from __future__ import annotations

import shutil
import sys
from xml.etree import ElementTree

import numpy as np
import pytest

import poseexport
from poseexport import PoseModel
from poseexport.contract.registry import get_backend
from poseexport.errors import MissingDependencyError, UnsupportedOptionError
from poseexport.metadata import Metadata

BACKEND = get_backend("openvino")
AVAILABLE = BACKEND.availability()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"openvino: {AVAILABLE.reason}")
IMGSZ = 64
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def fp32(tiny, tmp_path_factory):
    """A dynamic fp32 export (the static one is covered by test_contract); batch=2 because
    torch.export specialises a dynamic batch traced at size 1 (the 0/1 rule)."""
    return tiny.export("openvino", imgsz=IMGSZ, dynamic=True, batch=2,
                       out=tmp_path_factory.mktemp("ov") / "fp32", **QUIET)


def images(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_fp32_matches_pytorch_at_two_sizes_in_f32(tiny_reference, fp32):
    assert fp32.report.passed, fp32.report.table()
    assert sorted(p.name for p in fp32.path.iterdir()) == [
        "golden.npz", "manifest.json", "metadata.json", "posenet-test.bin", "posenet-test.xml"]
    assert fp32.metadata.inputs[0].shape == ("batch", 3, "height", "width")
    with poseexport.load(fp32.path) as runner:
        assert runner.inference_precision == "f32"  # not the bf16 the CPU plugin picks where it can
        assert runner.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
        for shape in ((1, 3, IMGSZ, IMGSZ), (2, 3, 96, 128)):
            x = images(*shape)
            got, expected = runner.forward(x), tiny_reference(x)
            anchors = sum((shape[2] // s) * (shape[3] // s) for s in (8, 16, 32))
            assert got.dtype == np.float32 and got.shape == expected.shape == (shape[0], 56, anchors)
            assert float(np.abs(got - expected).max()) < 1e-4
    meta = Metadata.from_json((fp32.path / "metadata.json").read_text())
    assert meta.format == "openvino" and meta.precision.name == "fp32"
    assert "INFERENCE_PRECISION_HINT=f32" in meta.precision.notes
    assert "openvino" in meta.toolchain


def test_metadata_round_trips_from_the_xml_alone(fp32, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(fp32.main_file, folder / "best.xml")
    shutil.copy(fp32.main_file.with_suffix(".bin"), folder / "best.bin")
    assert BACKEND.sniff(folder / "best.xml") and BACKEND.sniff(folder)
    native = BACKEND.read_native_metadata(folder / "best.xml")
    written = fp32.metadata.with_validation(None)  # rt_info is written before validation runs
    assert native == written
    with poseexport.load(folder / "best.xml") as runner:
        assert runner.metadata.format == "openvino" and runner.metadata.precision.name == "fp32"
        assert runner.names == {0: "person"} and runner.kpt_shape == (17, 3) and runner.stride == 32
        x = images(1, 3, IMGSZ, IMGSZ)
        with poseexport.load(fp32.path) as original:
            assert np.array_equal(runner.forward(x), original.forward(x))
    # convert_model copies the ONNX metadata into rt_info/framework: the stale entry is dropped
    framework = ElementTree.parse(folder / "best.xml").getroot().find("rt_info/framework")
    assert framework.find("poseexport") is None and framework.find("names").get("value") == '{"0": "person"}'


def test_sniff_rejects_other_xml(tmp_path):
    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?>\n<net name="x" version="11"><layers/></net>')
    (tmp_path / "note.xml").write_text("<?xml version='1.0'?><svg/>")
    assert not BACKEND.sniff(other) and not BACKEND.sniff(tmp_path / "note.xml")
    assert not BACKEND.sniff(tmp_path)  # two xml files: not an IR folder


def test_fp16_stores_half_weights_and_stays_close(tiny, tiny_reference, fp32, tmp_path):
    half = tiny.export("openvino", imgsz=IMGSZ, half=True, out=tmp_path / "fp16", **QUIET)
    assert half.report.passed, half.report.table()
    size16 = half.main_file.with_suffix(".bin").stat().st_size
    size32 = fp32.main_file.with_suffix(".bin").stat().st_size
    assert size16 < 0.6 * size32
    x = images(1, 3, IMGSZ, IMGSZ)
    with poseexport.load(half.path) as runner:
        assert runner.metadata.precision.name == "fp16" and runner.inference_precision == "f32"
        got = runner.forward(x)
    expected = tiny_reference(x)
    assert float(np.abs(got - expected).max()) < 0.05


def test_runner_threads_and_hint_override(fp32):
    from poseexport.backends.openvino import OpenVinoRunner

    x = images(1, 3, IMGSZ, IMGSZ)
    with OpenVinoRunner(fp32, threads=1) as one, OpenVinoRunner(fp32) as default:
        assert one.compiled.get_property("INFERENCE_NUM_THREADS") == 1
        assert np.allclose(one.forward(x), default.forward(x), atol=1e-5)
    with pytest.raises(UnsupportedOptionError, match="device cpu"):
        OpenVinoRunner(fp32, device="cuda:0")


def test_int8_scope_keeps_the_decode_and_the_last_head_convs_float(fp32):
    """Found by graph structure: 3 levels x (box, score, keypoint) last convolutions, and
    every node after them (the DFL softmax and its convolution included)."""
    import openvino as ov

    from poseexport.backends.openvino_int8 import pose_decode_scope

    model = ov.Core().read_model(str(fp32.main_file))
    decode, head_convs = pose_decode_scope(model)
    by_name = {op.get_friendly_name(): op.get_type_name() for op in model.get_ordered_ops()}
    assert len(head_convs) == 9
    assert all("Convolution" in {by_name[n] for n in branch} for branch in head_convs)
    kinds = [by_name[n] for n in decode]
    assert kinds.count("Softmax") == 1 and kinds.count("Convolution") == 1  # DFL
    assert "Sigmoid" in kinds and "Concat" in kinds
    assert not {"Swish", "MaxPool", "MatMul"} & set(kinds)  # nothing of the network itself

    # the head branches back to the neck: per stride 3 box + 5 class + 3 keypoint convolutions
    from poseexport.backends.openvino_int8 import head_branch_scope

    branch = [by_name[n] for n in head_branch_scope(model, head_convs)]
    assert branch.count("Convolution") + branch.count("GroupConvolution") == 3 * (3 + 5 + 3)
    assert not {"MaxPool", "MatMul", "Concat", "Interpolate"} & set(branch)  # no neck nodes


def test_int8_without_nncf_names_the_extra(monkeypatch):
    from poseexport.backends.openvino_int8 import quantize_int8

    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ImportError
    with pytest.raises(MissingDependencyError, match=r"poseexport\[openvino\]"):
        quantize_int8(model=None, ctx=None)  # checked first, before any work


@pytest.mark.slow
def test_real_model_fp32_matches_pytorch(data_dir, tmp_path):
    model = PoseModel(str(data_dir / "weights" / "yolo11n-pose.pt"))
    artifact = model.export("openvino", out=tmp_path / "fp32", **QUIET)
    stats = artifact.report.stats
    # measured: box 1.8e-4 px, score 1.5e-5, keypoints 2.1e-4 px, matched keypoints 2.9e-5 px
    assert artifact.report.passed, artifact.report.table()
    assert stats["box_max"] < 1e-3 and stats["score_max_all"] < 1e-4 and stats["kpt_xy_max"] < 1e-3
    assert stats["match_ratio"] == 1.0 and stats["kpt_px_mean"] < 1e-3


@pytest.mark.slow
def test_real_model_int8_passes_validation(data_dir, tmp_path):
    model = PoseModel(str(data_dir / "weights" / "yolo11n-pose.pt"))
    artifact = model.export("openvino", int8=True, data=str(data_dir / "calib-people"), fraction=0.3,
                            force=True, out=tmp_path / "int8", **QUIET)
    assert artifact.report.passed, artifact.report.table()
    stats = artifact.report.stats
    # measured (63 calibration images, 7-bit weights on every layer, Intel Xeon with AMX;
    # validated on the 5 shipped photos + 4 calib-people images, among them a crowd): 0 of 39
    # persons missed, 0 invented, matched keypoints 1.99 px, score drift p95 0.12 (largest 0.21)
    # (8-bit weights were 34 px apart between VNNI and AVX2-only CPUs). A single P5 anchor's raw
    # score moves by up to 0.5 (the fp32 model itself moves one by 0.38 under 1 grey level of
    # input noise), so int8 has no raw rows.
    assert stats["persons_missed"] == 0 and stats["persons_invented"] == 0
    assert stats["kpt_px_mean"] < 2.5 and stats["score_drift_p95"] < 0.2 and stats["score_drift_max"] < 0.5
    assert stats["score_mean"] < 0.05
    calibration = artifact.metadata.precision.calibration
    assert calibration.images == 63 and "nncf" in calibration.method and "float" in calibration.method
    assert "overflow fix enable" in calibration.method  # 7-bit weights: see openvino_int8.py
    assert artifact.metadata.build_cpu["isa"]  # the ISA it was calibrated on (poseexport.cpu)
    assert BACKEND.read_native_metadata(artifact.main_file).precision == artifact.metadata.precision
