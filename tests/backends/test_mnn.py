"""MNN: what the contract tests do not cover. The metadata sits in MNN's business-code field and
reads back without MNN; the conversion never runs the logger that pip-installs packages; the two
int8 kinds are what they say; fp16 stores half weights; the real yolo11n-pose matches."""
from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import stat

import numpy as np
import pytest

import poseexport
from poseexport import PoseModel
from poseexport.backends.mnn_metadata import read_biz_code
from poseexport.contract.registry import get_backend
from poseexport.errors import BadArtifactError, UnsupportedOptionError

IMGSZ = 64
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def backend():
    found = get_backend("mnn")
    for why in (found.export_availability(), found.availability()):
        if not why:
            pytest.skip(f"mnn: {why.reason}")
    return found


@pytest.fixture(scope="module")
def exported(backend, tiny, tmp_path_factory, data_dir):
    cache = {}

    def get(**kwargs):
        key = tuple(sorted(kwargs.items()))
        if key not in cache:
            if kwargs.get("int8") and kwargs.get("int8_kind") != "weight-only":
                kwargs = {"data": str(data_dir / "calib-people"), "fraction": 0.2, "force": True, **kwargs}
            out = tmp_path_factory.mktemp("mnn") / "artifact"
            cache[key] = tiny.export("mnn", imgsz=IMGSZ, out=out, **QUIET, **kwargs)
        return cache[key]
    return get


def test_metadata_is_in_the_business_code_field_and_reads_without_mnn(exported, tmp_path):
    artifact = exported()
    meta = json.loads(read_biz_code(artifact.main_file))  # a flatbuffer read: MNN is not imported
    assert meta["format"] == "mnn" and meta["model"]["kpt_shape"] == [17, 3]
    truncated = tmp_path / "cut.mnn"
    truncated.write_bytes(artifact.main_file.read_bytes()[:4000])
    with pytest.raises(BadArtifactError, match="not a readable MNN model"):
        get_backend("mnn").read_native_metadata(truncated)
    other = tmp_path / "other.mnn"
    other.write_bytes(b"\x10\x00\x00\x00" + b"\x00" * 60)  # a flatbuffer shape with no bizCode
    assert not get_backend("mnn").sniff(other)


def test_conversion_never_runs_the_logger_that_pip_installs(backend, tiny, tmp_path, monkeypatch):
    """MNN.tools' logger runs `pip install aliyun-log-python-sdk` when `aliyun` is missing: with
    `aliyun` made unimportable and `pip` on PATH replaced by a recorder, nothing may call pip and
    no distribution may appear or change."""
    fake = tmp_path / "fakes"
    (fake / "aliyun").mkdir(parents=True)
    (fake / "aliyun" / "__init__.py").write_text("raise ImportError('made to fail by the test')\n")
    marker = tmp_path / "pip-was-called"
    for name in ("pip", "pip3"):
        script = fake / name
        script.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\nexit 1\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(fake), os.environ.get("PYTHONPATH")])))
    before = {d.metadata["Name"]: d.version for d in md.distributions()}
    artifact = tiny.export("mnn", imgsz=IMGSZ, int8=True, int8_kind="weight-only", out=tmp_path / "w8", **QUIET)
    assert artifact.main_file.is_file()
    assert not marker.exists(), marker.read_text()
    assert {d.metadata["Name"]: d.version for d in md.distributions()} == before


def test_weight_only_int8_and_fp16_store_smaller_weights(exported, tiny_reference):
    sizes = {kind: exported(**kw).main_file.stat().st_size for kind, kw in
             {"fp32": {}, "fp16": {"half": True}, "w8": {"int8": True, "int8_kind": "weight-only"}}.items()}
    assert sizes["fp16"] < 0.7 * sizes["fp32"] and sizes["w8"] < 0.6 * sizes["fp32"]
    w8 = exported(int8=True, int8_kind="weight-only")
    assert w8.metadata.options["int8_kind"] == "weight-only" and "float compute" in w8.metadata.precision.notes
    assert w8.metadata.precision.calibration is None  # nothing was calibrated
    x = np.random.default_rng(7).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(w8.path, threads=1) as runner:
        assert float(np.abs(runner.forward(x) - tiny_reference(x)).max()) < 5.0  # int8 weights, float compute


def test_full_integer_is_calibrated_and_decodes_on_the_host(exported):
    artifact = exported(int8=True)
    assert artifact.metadata.options["int8_kind"] == "full-integer"
    assert len(artifact.metadata.outputs) == 12  # the head maps: the decode runs in float on the host
    method = artifact.metadata.precision.calibration.method
    assert "MNN" in method and "quantiser" in method


def test_float_keypoints_leaves_exactly_the_keypoint_branch_in_float(exported, tiny, tmp_path):
    import onnx

    from poseexport.backends.mnn_keypoint_branch import (
        KEYPOINT_MEANINGS,
        keypoint_branch_ops,
    )

    source = tiny.export("onnx", imgsz=IMGSZ, decode="host", out=tmp_path / "onnx", **QUIET)
    keypoints = [o.name for o in source.metadata.outputs if o.meaning in KEYPOINT_MEANINGS]
    ops = keypoint_branch_ops(str(source.main_file), keypoints)
    graph = onnx.load(str(source.main_file)).graph
    kinds = {n.output[0]: n.op_type for n in graph.node}
    # per level: two 3x3 conv + SiLU (Sigmoid, Mul) pairs, then the offsets and visibility convs
    assert [kinds[o] for o in ops].count("Conv") == 12 and len(ops) == 24
    inside = set(ops)
    readers = {}
    for node in graph.node:
        for t in node.input:
            readers.setdefault(t, set()).add(node.output[0])
    entries = {t for n in graph.node if n.output[0] in inside for t in n.input
               if t in kinds and t not in inside}
    assert len(entries) == 3 and all(readers[t] - inside for t in entries)  # the shared neck maps
    artifact = exported(int8=True, int8_kind="float-keypoints")
    assert artifact.metadata.options["int8_kind"] == "float-keypoints"
    assert "keypoint branch in float" in artifact.metadata.precision.calibration.method


def test_int8_options_are_checked_before_any_work(backend, tiny, tmp_path):
    with pytest.raises(UnsupportedOptionError, match="int8 MNN exports only"):
        tiny.export("mnn", imgsz=IMGSZ, int8_kind="weight-only", out=tmp_path / "a", **QUIET)
    with pytest.raises(UnsupportedOptionError, match="cannot keep the decode in the graph"):
        tiny.export("mnn", imgsz=IMGSZ, int8=True, decode="graph", data=str(tmp_path), out=tmp_path / "b", **QUIET)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bare_file_loads_from_its_own_metadata(exported, tmp_path):
    moved = tmp_path / "best.model"
    shutil.copy(exported().main_file, moved)
    with poseexport.load(moved) as runner:
        assert runner.metadata.format == "mnn" and runner.kpt_shape == (17, 3)


@pytest.mark.slow
def test_real_model_fp32_matches_pytorch(backend, data_dir, tmp_path):
    model = PoseModel(str(data_dir / "weights" / "yolo11n-pose.pt"))
    artifact = model.export("mnn", out=tmp_path / "fp32", **QUIET)
    stats = artifact.report.stats
    # measured (Intel Xeon, AVX-512 + AMX): box 0.018 px, keypoints 0.0085 px, score 8.4e-5,
    # matched keypoints 3.5e-4 px
    assert artifact.report.passed, artifact.report.table()
    assert stats["box_max"] < 0.05 and stats["kpt_xy_max"] < 0.05 and stats["score_max_all"] < 1e-3
    assert stats["match_ratio"] == 1.0 and stats["kpt_px_mean"] < 0.005
