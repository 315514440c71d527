"""The int8 ONNX artifact computes the same on x86 CPUs with and without VNNI.

This machine's CPU has AVX-512 VNNI / AMX (exact int32 dot products); the check runs the
same artifact under `qemu-x86_64-static -cpu Haswell` (AVX2, no AVX-512, no VNNI), where
ONNX Runtime's u8 x s8 kernel is VPMADDUBSW with its saturating int16 pair sums. The
tiny network keeps it fast (emulation runs one 640x640 yolo11n-pose inference in minutes):
on it, 8-bit weights move the emulated output and the shipped 7-bit recipe does not.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from poseexport.predict.letterbox import preprocess
from poseexport.predict.sources import read_image

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import poseexport.backends.onnx_int8 as onnx_int8  # noqa: E402

QEMU = shutil.which("qemu-x86_64-static")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                       reason=f"x86 ISA check: this host is {platform.machine()}, not x86_64"),
    pytest.mark.skipif(QEMU is None, reason="qemu-x86_64-static not found: apt-get install qemu-user-static"),
]
EMULATED_CPU = "Haswell"  # AVX2 + FMA, no AVX-512, no VNNI
# runs each model on each image, one at a time, with ONNX Runtime only (numpy + onnxruntime
# import in ~10 s under emulation; poseexport and torch would take minutes)
RUN_EACH = """
for job in sys.argv[1:]:
    model, inputs, out = job.split("=")
    x = np.load(inputs)
    s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    np.save(out, np.concatenate([s.run(None, {name: x[j:j + 1]})[0] for j in range(len(x))]))
"""


def _one_conv_int8(work_dir, recipe):
    """A 1x1 conv with 16 equal weights per output, quantized by our recipe (but not kept
    float as a head conv): every weight becomes the largest int8 value, so a pair of
    channels at 255 overflows int16 under VPMADDUBSW unless the weights are 7-bit
    (255 * 127 * 2 = 64770; 255 * 64 * 2 = 32640 < 32767)."""
    import onnx

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 16, 8, 8])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])
    w = onnx.numpy_helper.from_array(np.full((4, 16, 1, 1), 0.5, np.float32), "w")
    conv = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="conv")
    model = onnx.helper.make_model(onnx.helper.make_graph([conv], "g", [x], [y], [w]),
                                   opset_imports=[onnx.helper.make_opsetid("", 18)])
    images = np.random.default_rng(0).random((8, 16, 8, 8), dtype=np.float32)
    quantized, _ = onnx_int8.quantize_model(model, images, work_dir, replace(recipe, float_head="decode"))
    path = work_dir / "one-conv.onnx"
    onnx.save(quantized, str(path))
    return path


def _native(model, x):
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def _emulated(models, inputs, tmp_path):
    """Each model's outputs on its inputs under the emulated AVX2-only CPU (one qemu start)."""
    outs = []
    for i, (model, x) in enumerate(zip(models, inputs)):
        np.save(tmp_path / f"in-{i}.npy", x)
        outs.append(tmp_path / f"out-{i}.npy")
    script = "import sys, numpy as np, onnxruntime as ort\n" + RUN_EACH
    done = subprocess.run([QEMU, "-cpu", EMULATED_CPU, sys.executable, "-c", script,
                           *(f"{m}={tmp_path / f'in-{i}.npy'}={o}" for i, (m, o) in enumerate(zip(models, outs)))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [np.load(o) for o in outs]


def test_int8_onnx_matches_between_vnni_and_avx2_only_cpus(tiny, data_dir, tmp_path):
    tiny_int8 = tiny.export("onnx", imgsz=64, int8=True, data=str(data_dir / "calib-people"), fraction=0.16,
                            force=True, validate=False, out=tmp_path / "tiny", log=lambda *_: None)
    seven = _one_conv_int8(tmp_path / "7bit", onnx_int8.DEFAULT_RECIPE)
    eight = _one_conv_int8(tmp_path / "8bit", replace(onnx_int8.DEFAULT_RECIPE, reduce_range=False))
    files = [data_dir / "images" / "bus.jpg", data_dir / "images" / "zidane.jpg",
             *sorted((data_dir / "coco-val-pose" / "images").glob("*.jpg"))[:6]]
    x = np.concatenate([preprocess([read_image(f)], 64)[0] for f in files])
    bright = np.zeros((1, 16, 8, 8), np.float32)
    bright[:, :2] = 1.0  # one pair of channels at 255: 255 * 127 * 2 overflows, the output (1.0) does not
    models, inputs = [tiny_int8.main_file, seven, eight], [x, bright, bright]
    native = [_native(m, i) for m, i in zip(models, inputs)]
    emulated = _emulated(models, inputs, tmp_path)
    diff = [float(np.abs(n - e).max()) for n, e in zip(native, emulated)]
    # measured on an Intel Xeon (AMX, AVX-512 VNNI) against qemu 7.2 -cpu Haswell: the
    # tiny network's int8 artifact 0.0 (integer sums exact on both ISAs; the bound leaves
    # room for float rounding in the float head)
    assert diff[0] <= 0.05, f"the int8 artifact differs by {diff[0]:.4f} between ISAs"
    # the one-conv control (exact answer 1.0): 7-bit weights give 1.003 on both CPUs
    # (measured diff 0.0); 8-bit weights give 1.003 natively and 0.502 emulated (the pair sum
    # clipped at 32767 instead of 64770), which proves the emulation reaches VPMADDUBSW
    assert diff[1] <= 1e-4, f"7-bit weights differ by {diff[1]:.4f} between ISAs"
    assert diff[2] >= 0.25, f"8-bit weights differ by only {diff[2]:.4f}: the emulated CPU did not saturate"
