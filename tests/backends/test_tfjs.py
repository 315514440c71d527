"""TF.js: the converter's own environment and the Node runner, found or named with the fix; the
graph model at fp32 / fp16 / int8 (uint8 weights); one Node process per opened artifact.

Tests that need the toolchain skip with its availability() reason where it is missing (make it
with `python -m poseexport.backends.tfjs_setup`); the others run everywhere.
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import poseexport
from poseexport import PoseModel
from poseexport.backends import tfjs_convert, tfjs_env, tfjs_setup
from poseexport.backends.tfjs import read_metadata
from poseexport.contract.registry import get_backend
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.export.options import ExportOptions
from poseexport.metadata import Metadata

BACKEND = get_backend("tfjs")
RUNS = BACKEND.availability()
EXPORTS = BACKEND.export_availability()
needs_node = pytest.mark.skipif(not RUNS, reason=f"tfjs: {RUNS.reason}")
needs_toolchain = pytest.mark.skipif(not (RUNS and EXPORTS), reason=f"tfjs: {RUNS.reason or EXPORTS.reason}")
IMGSZ = 64
QUIET = {"log": lambda *_: None}
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


# --- where the toolchain is, and what is said when it is not (no toolchain needed) ----------

def test_missing_converter_python_names_the_path_and_the_command(monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "bin" / "python"
    monkeypatch.setenv(tfjs_env.PYTHON_ENV, str(missing))
    found = tfjs_env.converter_availability()
    assert not found
    assert str(missing) in found.reason and "python -m poseexport.backends.tfjs_setup --only python" in found.reason


def test_converter_python_without_tensorflowjs_is_named(monkeypatch):
    monkeypatch.setenv(tfjs_env.PYTHON_ENV, sys.executable)  # poseexport's own: no tensorflowjs here
    found = tfjs_env.converter_availability()
    assert not found and "lacks tensorflowjs==4.22.0" in found.reason and "tfjs_setup --only python" in found.reason


def test_default_places_are_in_the_user_cache(monkeypatch, tmp_path):
    for name in (tfjs_env.PYTHON_ENV, tfjs_env.NODE_DIR_ENV):  # tests/conftest.py pins them
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POSEEXPORT_CACHE_DIR", str(tmp_path))
    assert tfjs_env.converter_python() == tfjs_env.venv_python(tmp_path / "tfjs-python")
    assert tfjs_env.node_dir() == tmp_path / "tfjs-node"
    found = tfjs_env.converter_availability()
    assert not found and str(tmp_path / "tfjs-python") in found.reason and tfjs_env.PYTHON_ENV in found.reason


def test_missing_node_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv(tfjs_env.NODE_ENV, str(tmp_path / "no-node"))
    found = tfjs_env.runner_availability()
    assert not found and "Node.js 18 or newer" in found.reason and tfjs_env.NODE_ENV in found.reason


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_missing_npm_packages_are_named_with_the_command(monkeypatch, tmp_path):
    monkeypatch.delenv(tfjs_env.NODE_ENV, raising=False)
    monkeypatch.setenv(tfjs_env.NODE_DIR_ENV, str(tmp_path))
    found = tfjs_env.runner_availability()
    assert not found
    assert "@tensorflow/tfjs@4.22.0" in found.reason and "@tensorflow/tfjs-backend-wasm@4.22.0" in found.reason
    assert "tfjs_setup --only node" in found.reason and str(tmp_path) in found.reason


def test_formats_row_says_what_is_missing(monkeypatch, tmp_path):
    from poseexport.cli.formats_cmd import format_rows

    monkeypatch.setenv(tfjs_env.PYTHON_ENV, str(tmp_path / "python"))
    monkeypatch.setenv(tfjs_env.NODE_ENV, str(tmp_path / "node"))
    (row,) = [r for r in format_rows() if r["argument"] == "tfjs"]
    assert row["precisions"] == ["fp32", "fp16", "int8"] and row["source"] == "saved_model"
    assert row["available"] is False and "Node.js" in row["why_not"]
    assert row["exportable"] is False and "tfjs_setup --only python" in row["export_why_not"]


def test_int8_needs_no_calibration_images():
    """uint8 weight quantisation calibrates nothing, so --data is not demanded (ONNX's int8 still does)."""
    assert BACKEND.needs_calibration(ExportOptions(format="tfjs", int8=True)) is False
    assert get_backend("onnx").needs_calibration(ExportOptions(format="onnx", int8=True)) is True


def test_the_package_ships_the_runner_and_its_pins():
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "poseexport.backends"]
    backends = Path(tfjs_env.__file__).parent
    needed = [tfjs_env.RUNNER_SCRIPT, tfjs_env.FILES / "package.json", tfjs_env.FILES / "package-lock.json",
              tfjs_env.REQUIREMENTS]
    for path in needed:
        rel = path.relative_to(backends).as_posix()
        assert path.is_file() and any(fnmatch.fnmatch(rel, g) for g in globs), rel
    pins = tfjs_env.pinned_node_versions()
    assert pins == {"@tensorflow/tfjs": "4.22.0", "@tensorflow/tfjs-backend-wasm": "4.22.0"}
    lock = json.loads((tfjs_env.FILES / "package-lock.json").read_text())["packages"]
    assert {name: lock[f"node_modules/{name}"]["version"] for name in pins} == pins
    assert "tensorflow==2.21.0" in tfjs_env.REQUIREMENTS.read_text().splitlines()


# --- the converter's pure parts ------------------------------------------------------------

def test_output_keys_follow_the_metadata_order():
    assert tfjs_convert.output_keys(["output_0"], ["output0"]) == ["output_0"]
    assert tfjs_convert.output_keys(["box_p5", "box_p3", "box_p4"], ["box_p3", "box_p4", "box_p5"]) == [
        "box_p3", "box_p4", "box_p5"]
    assert tfjs_convert.output_keys(["anything"], ["output0"]) == ["anything"]  # one output: no ambiguity
    with pytest.raises(ValueError, match="cannot be matched"):
        tfjs_convert.output_keys(["a", "b"], ["x", "y"])


def test_uint8_quantises_the_inner_kernels_only_and_fp16_every_float_weight():
    """x -> conv0 -> conv1 -> conv2 -> add(anchors) -> output: conv0's kernel is quantised; those
    of the last two convolutions before the output, the anchors and the int32 shape stay as they are."""
    def node(name, op, *inputs):
        return {"name": name, "op": op, "input": list(inputs)}

    model = {"signature": {"outputs": {"output0": {"name": "Identity:0"}}},
             "modelTopology": {"node": [node("x", "Placeholder"), node("conv0", "DepthwiseConv2dNative", "x", "k0"),
                                        node("conv1", "_FusedConv2D", "conv0", "k1", "b1"),
                                        node("conv2", "Conv2D", "conv1:0", "k2"),
                                        node("add", "AddV2", "conv2", "anchors"),
                                        node("Identity", "Identity", "add", "^shape")]},
             "weightsManifest": [{"paths": ["g1.bin"], "weights": [
                 {"name": "k0", "shape": [3, 3, 3, 1], "dtype": "float32"},
                 {"name": "k1", "shape": [3, 3, 3, 16], "dtype": "float32"},
                 {"name": "b1", "shape": [16], "dtype": "float32"},
                 {"name": "k2", "shape": [1, 1, 16, 56], "dtype": "float32"},
                 {"name": "anchors", "shape": [1, 2, 8400], "dtype": "float32"},
                 {"name": "shape", "shape": [4], "dtype": "int32"}]}]}
    assert tfjs_convert.output_conv_kernels(model, 1) == {"k2"}
    assert tfjs_convert.output_conv_kernels(model, 2) == {"k1", "k2"}
    assert tfjs_convert.FLOAT_OUTPUT_CONVS == 2
    assert tfjs_convert.weights_to_quantize(model, "uint8") == ["k0"]
    assert tfjs_convert.weights_to_quantize(model, "float16") == ["k0", "k1", "b1", "k2", "anchors"]


def test_fnmatch_patterns_match_one_name_literally():
    names = ["a/b[0]/kernel", "a/b0/kernel", "a/b*/kernel", "x?y"]
    for name in names:
        assert fnmatch.filter(names, tfjs_convert._fnmatch_literal(name)) == [name]


# --- the setup command: idempotent, and never touches a folder it did not make --------------

def test_setup_leaves_a_foreign_folder_alone(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert tfjs_setup.main(["--only", "node", "--node-dir", str(foreign)]) == 2
    assert "was not made by this command" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_setup_makes_the_places_the_variables_name(tmp_path, monkeypatch):
    """The fix availability() prints (`tfjs_setup --only node`) fills the folder poseexport looks in."""
    made = []
    monkeypatch.setattr(tfjs_setup, "make_node_packages", made.append)
    monkeypatch.setattr(tfjs_setup, "make_python_env", made.append)
    monkeypatch.setenv(tfjs_env.NODE_DIR_ENV, str(tmp_path / "npm"))
    monkeypatch.setenv(tfjs_env.PYTHON_ENV, str(tfjs_env.venv_python(tmp_path / "venv")))
    assert tfjs_setup.main([]) == 0
    assert made == [(tmp_path / "venv").resolve(), (tmp_path / "npm").resolve()]


def test_setup_skips_a_part_made_from_the_same_pins(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    venv.mkdir()
    tfjs_setup._write_stamp(venv, tfjs_setup.python_pins())
    ran = []
    monkeypatch.setattr(tfjs_setup, "_run", lambda *a, **k: ran.append(a))
    tfjs_setup.make_python_env(venv)
    assert ran == []  # nothing to do
    tfjs_setup._write_stamp(venv, "older pins")
    tfjs_setup.make_python_env(venv)
    assert [a[1] for a in ran] == ["creating the venv", "installing TensorFlow into it",
                                   "installing tensorflowjs into it"]
    assert json.loads((venv / tfjs_setup.STAMP).read_text())["pins_sha256"] == tfjs_setup._digest(
        tfjs_setup.python_pins())


# --- the converter's process (the toolchain's own Python) -----------------------------------

@pytest.mark.skipif(not tfjs_env.converter_availability(), reason="the TF.js converter's Python is missing")
def test_converter_process_gets_the_tfjs_python_and_no_network(monkeypatch, tmp_path):
    from poseexport.contract.converter_process import run_converter

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    got = run_converter("foreign_python_doubles:convert_where", {}, tmp_path, title="probe", timeout_s=120,
                        python=tfjs_env.converter_python())
    assert Path(got["executable"]).parent == tfjs_env.converter_python().parent
    assert got["torch_found"] is False  # the converter's environment has TensorFlow, never torch
    assert got["environ"] == {"PIP_NO_INDEX": "1", "HTTPS_PROXY": "http://127.0.0.1:9", "PYTHONNOUSERSITE": "1"}
    assert Path(got["poseexport"]).resolve() == Path(poseexport.__file__).resolve()


# --- export and run (the toolchain and Node) ------------------------------------------------

@pytest.fixture(scope="module")
def tiny_tfjs(tiny, tmp_path_factory):
    """fp32, fp16 and int8 exports of the tiny network. Not validated: on random weights many
    anchors tie on score, and which of them NMS keeps differs between runtimes that agree to
    1e-4 (the SavedModel stage then fails the person checks); the raw outputs are compared here,
    and the parity report is proved on the real model (test_real_model_fp32_in_node_matches_pytorch)."""
    if not (RUNS and EXPORTS):
        pytest.skip(f"tfjs: {RUNS.reason or EXPORTS.reason}")
    root = tmp_path_factory.mktemp("tfjs")
    return {p: tiny.export("tfjs", imgsz=IMGSZ, half=p == "fp16", int8=p == "int8", out=root / p, validate=False,
                           **QUIET) for p in ("fp32", "fp16", "int8")}


def shard_bytes(artifact) -> int:
    return sum(p.stat().st_size for p in artifact.path.glob("group*-shard*.bin"))


@needs_toolchain
def test_precisions_store_smaller_weights_and_say_what_they_are(tiny_tfjs, tiny_reference):
    x = np.random.default_rng(3).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    expected = tiny_reference(x)
    errors = {}
    for precision, artifact in tiny_tfjs.items():
        meta = artifact.metadata
        assert meta.precision.name == precision and meta.precision.calibration is None
        assert meta.inputs[0].layout == "NHWC" and meta.inputs[0].shape == (1, IMGSZ, IMGSZ, 3)
        with poseexport.load(artifact.path) as runner:
            errors[precision] = float(np.abs(runner.forward(x) - expected).max())
    assert errors["fp32"] < 1e-3
    assert "float16 weights" in tiny_tfjs["fp16"].metadata.precision.notes
    assert "weights only" in tiny_tfjs["int8"].metadata.precision.notes
    fp32, fp16, int8 = (shard_bytes(tiny_tfjs[p]) for p in ("fp32", "fp16", "int8"))
    assert 0.45 < fp16 / fp32 < 0.55  # every float weight in 2 bytes
    # uint8: exactly the kernels but those of the last two convolutions before each output, 1 byte each
    model = json.loads(tiny_tfjs["int8"].main_file.read_text())
    weights = [w for group in model["weightsManifest"] for w in group["weights"]]
    quantised = {w["name"] for w in weights if (w.get("quantization") or {}).get("dtype") == "uint8"}
    kernels = {w["name"] for w in weights if len(w["shape"]) == 4}
    kept = tfjs_convert.output_conv_kernels(model, 2)
    assert quantised and kept and quantised == kernels - kept
    assert int8 == sum(int(np.prod(w["shape"])) * (1 if w["name"] in quantised else 4) for w in weights) < fp32
    # the int8 uint8 kernels move outputs more than fp16, which moves them more than fp32
    assert errors["fp32"] < errors["fp16"] < errors["int8"]


@needs_toolchain
def test_model_json_carries_the_metadata_and_loads_without_sidecars(tiny_tfjs, tmp_path):
    artifact = tiny_tfjs["fp32"]
    model = json.loads(artifact.main_file.read_text())
    assert model["format"] == "graph-model" and model["convertedBy"] == "TensorFlow.js Converter v4.22.0"
    sidecar = Metadata.from_json((artifact.path / "metadata.json").read_text())
    assert read_metadata(artifact.main_file).with_validation(None) == sidecar.with_validation(None)
    # the SavedModel's signature names its outputs as the metadata does
    assert model["userDefinedMetadata"][tfjs_convert.OUTPUT_KEYS] == [o.name for o in sidecar.outputs]
    assert sidecar.toolchain["tensorflowjs"] == "4.22.0" and sidecar.toolchain["@tensorflow/tfjs"] == "4.22.0"
    assert sidecar.toolchain["node"].split(".")[0].isdigit()
    folder = tmp_path / "bare"
    shutil.copytree(artifact.path, folder)
    for name in ("metadata.json", "manifest.json", "golden.npz"):
        (folder / name).unlink()
    renamed = folder / "pose.json"
    (folder / "model.json").rename(renamed)
    assert BACKEND.sniff(renamed) and not BACKEND.sniff(folder / "group1-shard1of1.bin")
    with poseexport.load(renamed) as runner:
        assert runner.metadata.format == "tfjs" and runner.kpt_shape == (17, 3)


@needs_toolchain
def test_one_node_process_serves_every_call_on_wasm(tiny_tfjs):
    x = np.random.default_rng(4).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    runner = poseexport.load(tiny_tfjs["fp32"].path)
    pid = runner._proc.pid
    first = runner.forward(x)
    for _ in range(5):
        assert np.array_equal(runner.forward(x), first)
    assert runner._proc.pid == pid
    assert runner.info["backend"] == "wasm" and runner.info["wasm"]["simd"] in (True, False)
    assert runner.info["wasm"]["threads"] == 1 == runner.threads  # TF.js runs wasm single-threaded in Node
    proc = runner._proc
    runner.close()
    assert proc.poll() is not None  # Node exited when its input closed


@needs_toolchain
def test_selftest_runs_the_golden_vector_in_node(tiny_tfjs):
    from poseexport.selftest import selftest

    lines = []
    assert selftest(tiny_tfjs["fp32"].path, log=lines.append) is True
    assert "PASSED" in lines[-1]


@needs_toolchain
def test_cpu_backend_gives_the_same_outputs(tiny_tfjs, monkeypatch):
    x = np.random.default_rng(5).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(tiny_tfjs["fp32"].path) as wasm:
        a = wasm.forward(x)
    monkeypatch.setenv("POSEEXPORT_TFJS_BACKEND", "cpu")
    with poseexport.load(tiny_tfjs["fp32"].path) as cpu:
        assert cpu.info["backend"] == "cpu"
        assert float(np.abs(cpu.forward(x) - a).max()) < 1e-4


@needs_toolchain
def test_unknown_backend_is_refused(tiny_tfjs, monkeypatch):
    monkeypatch.setenv("POSEEXPORT_TFJS_BACKEND", "webgpu")
    with pytest.raises(UnsupportedOptionError, match="wasm or cpu"):
        poseexport.load(tiny_tfjs["fp32"].path)


@needs_toolchain
def test_missing_shard_is_named_before_node_starts(tiny_tfjs, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_tfjs["fp32"].path, folder)
    (folder / "group1-shard1of1.bin").unlink()
    with pytest.raises(BadArtifactError, match="group1-shard1of1.bin is missing"):
        poseexport.load(folder, verify=False)


@needs_toolchain
def test_node_dying_mid_run_is_a_clear_error(tiny_tfjs):
    x = np.random.default_rng(6).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(tiny_tfjs["fp32"].path) as runner:
        runner.forward(x)
        runner._proc.kill()
        runner._proc.wait()
        with pytest.raises(BadArtifactError, match="failed in Node"):
            runner.forward(x)


@needs_toolchain
def test_host_decode_outputs_head_maps_that_decode_like_pytorch(tiny, tiny_reference, tmp_path):
    artifact = tiny.export("tfjs", imgsz=IMGSZ, decode="host", out=tmp_path / "host", validate=False, **QUIET)
    outputs = artifact.metadata.outputs
    assert len(outputs) >= 9  # per level: box, scores, keypoints (offsets and visibility apart)
    assert {o.kind for o in outputs} == {"head"} and {o.layout for o in outputs} == {"NHWC"}
    keys = json.loads(artifact.main_file.read_text())["userDefinedMetadata"][tfjs_convert.OUTPUT_KEYS]
    assert keys == [o.name for o in outputs]  # the SavedModel names its outputs as the metadata does
    x = np.random.default_rng(7).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(artifact.path) as runner:
        assert float(np.abs(runner.forward(x) - tiny_reference(x)).max()) < 1e-3


@needs_toolchain
def test_int8_exports_without_data(tiny_tfjs):
    assert tiny_tfjs["int8"].metadata.options["data"] is None


# --- the real model (slow) -----------------------------------------------------------------

@pytest.mark.slow
@needs_toolchain
def test_real_model_fp32_in_node_matches_pytorch(data_dir, tmp_path):
    model = PoseModel(str(data_dir / "weights" / "yolo11n-pose.pt"))
    artifact = model.export("tfjs", data=str(data_dir / "images"), out=tmp_path / "fp32", **QUIET)
    assert artifact.report.passed, artifact.report.table()
    stats = artifact.report.stats
    # measured (5 shipped photos + bus + zidane, wasm backend, Node 20): box 2.7e-4 px, score 5.1e-6,
    # keypoints 8.2e-4 px; 16 of 16 persons matched, matched keypoints 5.7e-5 px mean, 1.4e-4 p95
    assert stats["persons_missed"] == 0 and stats["persons_invented"] == 0
    assert stats["kpt_px_mean"] < 0.05 and stats["kpt_xy_max"] < 0.05
