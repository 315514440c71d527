"""The TensorFlow family on the tiny network: what the contract tests do not cover.

SavedModel / GraphDef / TFLite metadata where each format keeps it (read without TensorFlow for
TFLite and GraphDef), NHWC head maps with --decode host, the four int8 TFLite kinds and the
tensors they really take and give, and the Edge TPU export without its compiler.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import poseexport
from poseexport.contract.registry import get_backend

IMGSZ = 64


def needs(name: str):
    backend = get_backend(name)
    for why in (backend.export_availability(), backend.availability()):
        if not why:
            pytest.skip(f"{name}: {why.reason}")
    return backend


@pytest.fixture(scope="module")
def export(tiny, tmp_path_factory, data_dir):
    cache = {}

    def get(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            needs(name)
            if kwargs.get("int8"):
                kwargs = {"data": str(data_dir / "calib-people"), **kwargs}
            out = tmp_path_factory.mktemp(name) / "artifact"
            cache[key] = tiny.export(name, imgsz=IMGSZ, out=out, log=lambda *_: None, **kwargs)
        return cache[key]
    return get


def test_saved_model_keeps_its_metadata_inside_and_in_assets_extra(export):
    artifact = export("saved_model")
    folder = artifact.path
    asset = json.loads((folder / "assets.extra" / "poseexport.json").read_text())
    assert asset["format"] == "saved_model" and asset["inputs"][0]["layout"] == "NHWC"
    # inside the model: a fresh interpreter without poseexport reads it with TensorFlow alone
    code = ("import sys, json, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
            "print(json.loads(m.poseexport_metadata.numpy().decode())['model']['kpt_shape'])")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[17, 3]"


def test_host_decode_saved_model_gives_nhwc_head_maps_that_decode_like_pytorch(export, tiny_reference):
    artifact = export("saved_model", decode="host")
    outs = artifact.metadata.outputs
    assert len(outs) == 12 and {o.layout for o in outs} == {"NHWC"}
    assert outs[0].name == "p8_box" and tuple(outs[0].shape) == (1, IMGSZ // 8, IMGSZ // 8, 64)
    x = np.random.default_rng(3).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(artifact.path) as runner:
        got = runner.forward(x)
    assert float(np.abs(got - tiny_reference(x)).max()) < 1e-3


def test_graphdef_feeds_and_fetches_by_the_metadata_names(export):
    from poseexport.backends.graphdef_metadata import read_metadata_json

    artifact = export("pb", decode="host")
    meta = json.loads(read_metadata_json(artifact.main_file))  # the wire-format reader, no TensorFlow
    assert meta["format"] == "pb" and meta["outputs"][0]["layout"] == "NHWC"
    code = ("import sys, numpy as np, tensorflow as tf\n"
            "g = tf.compat.v1.GraphDef(); g.ParseFromString(open(sys.argv[1], 'rb').read())\n"
            "f = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(g, name=''), [])\n"
            "r = f.prune(f.graph.get_tensor_by_name('images:0'), f.graph.get_tensor_by_name('p8_vis:0'))\n"
            "print(tuple(r(tf.zeros((1, 64, 64, 3))).shape))")
    out = subprocess.run([sys.executable, "-c", code, str(artifact.main_file)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "(1, 8, 8, 17)"


def test_graphdef_metadata_reader_rejects_a_truncated_file(export, tmp_path):
    from poseexport.backends.graphdef_metadata import read_metadata_json

    data = export("pb").main_file.read_bytes()
    cut = tmp_path / "cut.pb"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError):
        read_metadata_json(cut)


def test_tflite_metadata_is_a_metadata_buffer_that_every_reader_opens(export, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from poseexport.backends.tflite_metadata import read_entry

    artifact = export("tflite")
    data = artifact.main_file.read_bytes()
    meta = json.loads(read_entry(data))
    assert meta["format"] == "tflite" and meta["model"]["kpt_shape"] == [17, 3]
    assert read_entry(data, name="no-such-entry") is None
    interpreter = Interpreter(model_path=str(artifact.main_file))  # LiteRT itself still opens it
    assert list(interpreter.get_signature_list()["serving_default"]["outputs"]) == ["output0"]
    with pytest.raises(ValueError, match="TFL3"):
        read_entry(b"\x00" * 64)


@pytest.mark.parametrize("kind, in_dtype, out_dtype", [
    ("dynamic-range", "float32", "float32"),
    ("full-integer", "float32", "float32"),
    ("full-integer-io", "int8", "int8"),
    ("float-keypoints", "float32", "float32"),
])
def test_int8_kinds_take_and_give_the_tensors_their_metadata_describes(export, kind, in_dtype, out_dtype):
    artifact = export("tflite", int8=True, int8_kind=kind, decode="host", validate=False)
    meta = artifact.metadata
    assert meta.options["int8_kind"] == kind and meta.precision.name == "int8"
    spec = meta.inputs[0]
    assert (spec.layout, spec.dtype) == ("NHWC", in_dtype)
    assert {o.dtype for o in meta.outputs} == {out_dtype}
    if kind == "full-integer-io":
        # element = pixel * scale + zero_point: 0..255 pixels fill int8's -128..127
        assert spec.zero_point == -128 and abs(spec.scale - 1.0) < 1e-3
        scales = [o.scale for o in meta.outputs]
        assert len(set(scales)) == len(scales)  # every head map its own scale
    if kind == "dynamic-range":  # weights only: nothing calibrated, and the notes say so
        assert meta.precision.calibration is None
        method = meta.precision.notes
    else:
        method = meta.precision.calibration.method
    assert ("dynamic-range" in method) == (kind == "dynamic-range")
    assert ("percentile" in method) == (kind != "dynamic-range")  # the default activation ranges
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(artifact.main_file)).get_signature_runner("serving_default")
    assert np.dtype(runner.get_input_details()["images"]["dtype"]).name == in_dtype


@pytest.mark.parametrize("kind", ["full-integer", "float-keypoints"])
def test_float_keypoints_keeps_exactly_the_keypoint_branch_in_float(export, kind):
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    artifact = export("tflite", int8=True, int8_kind=kind, decode="host", validate=False)
    model = flatbuffer_utils.read_model(str(artifact.main_file))
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    producer = {int(t): op for op in graph.operators for t in op.outputs}

    def made_by(tensor: int) -> tuple[str, int]:
        op = producer[tensor]
        code = model.operatorCodes[op.opcodeIndex]
        return op_names[max(code.builtinCode, code.deprecatedBuiltinCode)], graph.tensors[op.inputs[0]].type

    outputs = {t.name.decode(): int(t.tensorIndex) for t in model.signatureDefs[0].outputs}
    float32 = schema.TensorType.FLOAT32
    for name, tensor in outputs.items():
        op, input_type = made_by(tensor)
        if kind == "float-keypoints" and name.endswith(("_kpt", "_vis")):
            assert (op, input_type) == ("CONV_2D", float32), name  # a float convolution of float features
        else:
            assert op == "DEQUANTIZE", name  # an int8 tensor, dequantised at the edge
    convs = [op for op in graph.operators if op_names[max(model.operatorCodes[op.opcodeIndex].builtinCode,
             model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)] == "CONV_2D"]
    float_convs = sum(graph.tensors[op.outputs[0]].type == float32 for op in convs)
    # four convolutions per level (3x3, 3x3, then the keypoint and visibility 1x1s): 12 of them
    assert float_convs == (12 if kind == "float-keypoints" else 0)


def test_int8_kind_without_int8_is_refused(tiny, tmp_path):
    needs("tflite")
    from poseexport.errors import UnsupportedOptionError

    with pytest.raises(UnsupportedOptionError, match="--int8-kind"):
        tiny.export("tflite", imgsz=IMGSZ, out=tmp_path / "a", int8_kind="full-integer", log=lambda *_: None)
    assert not (tmp_path / "a").exists()


@pytest.mark.skipif(shutil.which("edgetpu_compiler") is not None, reason="the compiler is installed here")
def test_edgetpu_without_compiler_installs_the_validated_int8_source_and_says_so(data_dir, tmp_path):
    needs("tflite")
    out = tmp_path / "tpu"
    result = subprocess.run([sys.executable, "-m", "poseexport", "convert", "--model", "posenet-test.yaml",
                             "--imgsz", str(IMGSZ), "--format", "edgetpu", "--data", str(data_dir / "calib-people"),
                             "--out", str(out), "--no-validate"], capture_output=True, text=True, timeout=900)
    said = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in said, said[-3000:]
    for words in ("edgetpu_compiler, which is not on PATH", "apt-get install edgetpu-compiler",
                  f"{out} holds the tflite int8 artifact it compiles"):
        assert words in " ".join(said.split()), said[-3000:]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["format"] == "tflite" and meta["options"]["int8_kind"] == "full-integer-io"
    assert meta["options"]["decode"] == "host" and meta["inputs"][0]["dtype"] == "int8"
    assert (out / "manifest.json").is_file() and (out / "golden.npz").is_file()
    with poseexport.load(out) as runner:  # a complete artifact
        assert runner.metadata.format == "tflite"


def test_edgetpu_says_what_is_missing_before_any_work():
    from poseexport.backends.edgetpu import EdgeTpuBackend, parse_compiler_report

    backend = EdgeTpuBackend()
    available = backend.availability()
    if not available:
        assert "libedgetpu" in available.reason or "ai_edge_litert" in available.reason
    if shutil.which("edgetpu_compiler") is None:
        assert "edgetpu-compiler" in backend.export_note()
    report = parse_compiler_report("Edge TPU Compiler version 16.0.384591198\nInput: m.tflite\n"
                                   "Number of operations that will run on Edge TPU: 233\n"
                                   "Number of operations that will run on CPU: 4\n")
    assert report == {"version": "16.0.384591198", "ops_on_tpu": 233, "ops_on_cpu": 4}


def test_format_defaults_fill_only_what_the_user_left_open():
    from poseexport.export.options import ExportOptions

    tpu = get_backend("edgetpu")
    resolved = ExportOptions(format="edgetpu").for_backend(tpu)
    assert (resolved.decode, resolved.precision) == ("host", "int8")
    onnx = get_backend("onnx")
    assert ExportOptions(format="onnx").for_backend(onnx).decode == "graph"
    assert ExportOptions(format="onnx", decode="host").for_backend(onnx).decode == "host"
    kept = ExportOptions(format="edgetpu", decode="graph", half=True).for_backend(tpu)
    assert (kept.decode, kept.precision) == ("graph", "fp16")  # explicit: kept, then refused


def test_tflite_artifact_loads_as_a_bare_file_without_tensorflow(export, tmp_path):
    """The phone-side install: LiteRT without TensorFlow reads the metadata and runs."""
    artifact = export("tflite")
    bare = tmp_path / "model.tflite"
    shutil.copy(artifact.main_file, bare)
    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def guard(name, *a, **k):\n"
            "    if name.split('.')[0] in ('tensorflow', 'torch'):\n"
            "        raise ImportError('blocked: ' + name)\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = guard\n"
            "from poseexport.backends.tflite import TfliteBackend\n"
            "b = TfliteBackend(); m = b.read_native_metadata(sys.argv[1]); print(m.format, m.inputs[0].layout)\n")
    out = subprocess.run([sys.executable, "-c", code, str(bare)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "tflite NHWC"
