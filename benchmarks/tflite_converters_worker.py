"""The out-of-process half of benchmarks/tflite_converters.py: one conversion or one timing per call.

    python benchmarks/tflite_converters_worker.py tfconvert --saved-model DIR --kind K --calib C.npy --out M.tflite
    python benchmarks/tflite_converters_worker.py litert --decode graph|host --kind K --calib C.npy --out M.tflite
    python benchmarks/tflite_converters_worker.py latency --model M.tflite --threads 1 --runs 30

Each call prints one JSON line last (what it did and how long it took). `tfconvert` imports
TensorFlow only; `litert` imports torch, poseexport and litert-torch (the torch module is the
converter's input, so torch cannot be avoided there); `latency` imports ai-edge-litert only,
so a timing never shares its process with a toolchain.

Kinds: fp32, fp16 (fp16 weights), dynamic (int8 weights, float activations), int8 (full
integer, float input/output), int8io (full integer, int8 input/output). The calibration file
holds the letterboxed calibration images as uint8 NHWC RGB (exactly the letterboxed pixels, so
x / 255 is the float input poseexport feeds); it is read memory-mapped, one image at a time.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

KINDS = ("fp32", "fp16", "dynamic", "int8", "int8io")


def calibration_images(path: str, count: int | None):
    """Yield (1, H, W, 3) float32 images in [0, 1] from the uint8 NHWC calibration file."""
    images = np.load(path, mmap_mode="r")
    for i in range(len(images) if count is None else min(count, len(images))):
        yield (images[i:i + 1].astype(np.float32) / np.float32(255.0))


# ---- route A: onnx2tf SavedModel -> TFLiteConverter -------------------------------------------
def tf_convert(saved_model: str, kind: str, calib: str, count: int | None, out: str,
               per_tensor: bool) -> dict:
    import tensorflow as tf

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    if kind == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif kind in ("int8", "int8io"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in calibration_images(calib, count))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if kind == "int8io":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        if per_tensor:  # per-tensor weights: what older integer accelerators want
            converter._experimental_disable_per_channel = True
    model = converter.convert()
    Path(out).write_bytes(model)
    return {"seconds": time.perf_counter() - start, "bytes": len(model)}


# ---- route B: litert-torch from the torch module, ai-edge-quantizer for int8 ------------------
def litert_convert(decode: str, kind: str, calib: str, count: int | None, out: str, float_model: str | None,
                   weights: str) -> dict:
    """fp32: litert_torch.convert of the NHWC-wrapped module (writes `out`). Other kinds quantize
    the fp32 .tflite `float_model` with ai-edge-quantizer (litert-torch's own quantization path)."""
    start = time.perf_counter()
    if kind == "fp32":
        import copy

        import litert_torch
        import torch

        from poseexport import PoseModel

        net = copy.deepcopy(PoseModel(weights).net).float().cpu().eval().fuse()
        for p in net.parameters():
            p.requires_grad_(False)
        outputs = None
        if decode == "host":
            net.head.raw_maps = True
            with torch.no_grad():
                n_out = len(net(torch.zeros(1, 3, 640, 640)))
            outputs = list(range(n_out))  # every head map NHWC, like onnx2tf writes them
        module = litert_torch.to_channel_last_io(net, args=[0], outputs=outputs)
        with torch.no_grad():
            edge = litert_torch.convert(module.eval(), (torch.zeros(1, 640, 640, 3),))
        edge.export(out)
        return {"seconds": time.perf_counter() - start, "bytes": Path(out).stat().st_size}
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName
    from ai_edge_quantizer.recipe_manager import RecipeManager

    if kind == "fp16":
        manager = RecipeManager()
        manager.add_weight_only_config(regex=".*", operation_name=TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                       algorithm_key=AlgorithmName.FLOAT_CASTING)
        chosen = manager.get_quantization_recipe()
    elif kind == "dynamic":
        chosen = recipe.dynamic_wi8_afp32()
    elif kind == "int8":
        chosen = recipe.static_wi8_ai8()
    else:
        raise SystemExit(f"litert-torch route: kind {kind} is not offered by ai-edge-quantizer "
                         "(it keeps float model inputs and outputs)")
    qt = quantizer.Quantizer(float_model, chosen)
    calibration = None
    if qt.need_calibration:
        from ai_edge_litert.interpreter import Interpreter

        sig = Interpreter(model_path=float_model).get_signature_list()
        name = next(iter(sig))
        arg = sig[name]["inputs"][0]
        data = {name: [{arg: x} for x in calibration_images(calib, count)]}
        calibration = qt.calibrate(data, num_threads=int(os.environ.get("CALIB_THREADS", "1")))
    result = qt.quantize(calibration, enable_progress_bar=False)
    Path(out).write_bytes(bytes(result.quantized_model))
    return {"seconds": time.perf_counter() - start, "bytes": Path(out).stat().st_size,
            "float_model": float_model}


# ---- latency ----------------------------------------------------------------------------------
def latency(model: str, threads: int, runs: int, warmup: int) -> dict:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=model, num_threads=threads)  # XNNPACK: the default delegate
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    x = np.random.default_rng(0).random(inp["shape"], dtype=np.float32)
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    for _ in range(warmup):
        interp.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t) * 1000)
    return {"threads": threads, "runs": runs, "median_ms": float(np.median(times)),
            "min_ms": float(np.min(times)), "p90_ms": float(np.percentile(times, 90)),
            "loadavg_after": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("tfconvert")
    a.add_argument("--saved-model", required=True)
    b = sub.add_parser("litert")
    b.add_argument("--decode", choices=("graph", "host"), required=True)
    b.add_argument("--float-model")
    b.add_argument("--weights", default="yolo11n-pose.pt")
    for p in (a, b):
        p.add_argument("--kind", choices=KINDS, required=True)
        p.add_argument("--calib", required=True)
        p.add_argument("--count", type=int, default=None)
        p.add_argument("--out", required=True)
    a.add_argument("--per-tensor", action="store_true")
    c = sub.add_parser("latency")
    c.add_argument("--model", required=True)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--runs", type=int, default=30)
    c.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if args.cmd == "tfconvert":
        result = tf_convert(args.saved_model, args.kind, args.calib, args.count, args.out, args.per_tensor)
    elif args.cmd == "litert":
        result = litert_convert(args.decode, args.kind, args.calib, args.count, args.out, args.float_model,
                                args.weights)
    else:
        result = latency(args.model, args.threads, args.runs, args.warmup)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
