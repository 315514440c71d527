"""The Ultralytics side of the peer table. Runs INSIDE the throw-away peer env
(benchmarks/peers/setup_ultralytics_env.sh), never in poseexport's; compare_ultralytics.py
drives it through subprocesses. Uses Ultralytics' public API only.

    PY=/work/peers/ultralytics-venv/bin/python
    $PY ultralytics_cells.py export --weights W.pt --format onnx --precision int8 --data calib.yaml --out DIR --json e.json
    $PY ultralytics_cells.py latency --artifact A --input x.npy --threads 1,2 --runs 30 --json l.json
    $PY ultralytics_cells.py val --artifact A --data val.yaml --out DIR --json v.json
    $PY ultralytics_cells.py persons --artifact A --images a.jpg b.jpg --json p.json

Set YOLO_CONFIG_DIR, YOLO_OFFLINE=1 and YOLO_AUTOINSTALL=False (see /work/peers/READY).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

# precision -> Ultralytics 8.4's `quantize=` (w8a32: its LiteRT dynamic-range INT8, int8 weights + fp32 activations)
QUANTIZE = {"fp32": None, "fp16": 16, "int8": 8, "w8a32": "w8a32"}
FORMATS = ["torchscript", "onnx", "openvino", "litert", "saved_model", "pb"]
# onnx2tf (Ultralytics' saved_model/pb route) downloads this sample unless a file of that name is in
# the working directory: we write one from real calibration photos (20 x 128 x 128 x 3, RGB, [0, 1]).
ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def write_onnx2tf_sample(folder: Path, images: Path) -> Path:
    """The onnx2tf calibration sample, made from the first 20 photos of `images` (never downloaded)."""
    import cv2

    target = folder / ONNX2TF_SAMPLE
    files = sorted(f for f in images.rglob("*") if f.suffix.lower() in {".jpg", ".jpeg", ".png"})[:20]
    if len(files) < 20:
        raise SystemExit(f"need 20 images in {images} for {ONNX2TF_SAMPLE}, found {len(files)}")
    sample = np.stack([cv2.resize(cv2.imread(str(f))[:, :, ::-1], (128, 128), interpolation=cv2.INTER_AREA)
                       for f in files]).astype(np.float32) / 255.0
    np.save(target, sample)
    return target


def cmd_export(args: argparse.Namespace) -> dict:
    """Export like a user would (`YOLO(pt).export(...)`); the artifact lands beside the copied .pt."""
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    weights = out / Path(args.weights).name
    shutil.copyfile(args.weights, weights)  # Ultralytics writes the export next to the weights
    start = time.perf_counter()
    if args.format in {"saved_model", "pb"}:  # onnx2tf reads its sample from the working directory
        if not args.sample_images:
            raise SystemExit(f"--format {args.format} needs --sample-images (for {ONNX2TF_SAMPLE})")
        os.chdir(out)
        write_onnx2tf_sample(out, Path(args.sample_images))
    from ultralytics import YOLO

    model = YOLO(str(weights), task="pose")
    kwargs = {"format": args.format, "imgsz": args.imgsz, "batch": 1, "device": "cpu"}
    if QUANTIZE[args.precision] is not None:
        kwargs["quantize"] = QUANTIZE[args.precision]
    if args.precision == "int8":  # static INT8 calibrates; w8a32 (dynamic range) needs no data
        kwargs.update(data=args.data, fraction=args.fraction)
    t_export = time.perf_counter()
    artifact = model.export(**kwargs)
    done = time.perf_counter()
    return {"artifact": str(artifact), "export_s": done - t_export, "export_with_load_s": done - start,
            "export_args": {k: str(v) for k, v in kwargs.items()}}


def _runner(artifact: Path, threads: int, hint: str | None):
    """The artifact's runtime, configured as Ultralytics' AutoBackend does on a Linux CPU,
    plus an explicit thread count so both sides run with the same threads."""
    if artifact.suffix == ".torchscript":
        import torch

        torch.set_num_threads(threads)
        module = torch.jit.load(str(artifact), map_location="cpu").eval()

        def run(x: np.ndarray):
            with torch.inference_mode():
                return module(torch.from_numpy(x))
        return run, "torch.jit"
    if artifact.suffix == ".onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        session = ort.InferenceSession(str(artifact), opts, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x})), "onnxruntime CPU"
    if artifact.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(str(artifact), num_threads=threads)  # XNNPACK, the default CPU delegate
        interp.allocate_tensors()
        inp, outs = interp.get_input_details()[0], interp.get_output_details()
        nhwc = inp["shape"][-1] == 3  # litert-torch keeps NCHW, onnx2tf writes NHWC
        scale, zero = inp["quantization"]

        def run(x: np.ndarray):
            x = x.transpose(0, 2, 3, 1) if nhwc else x
            if inp["dtype"] != np.float32:  # full-integer input (legacy onnx2tf): quantise as AutoBackend does
                info = np.iinfo(inp["dtype"])
                x = np.clip(np.rint(x / scale + zero), info.min, info.max)
            interp.set_tensor(inp["index"], np.ascontiguousarray(x, dtype=inp["dtype"]))
            interp.invoke()
            return [interp.get_tensor(o["index"]) for o in outs]
        return run, f"ai-edge-litert Interpreter (XNNPACK), input {'NHWC' if nhwc else 'NCHW'} {np.dtype(inp['dtype'])}"
    if artifact.is_dir() and (artifact / "saved_model.pb").exists():
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        fn = tf.saved_model.load(str(artifact)).signatures["serving_default"]
        key = next(iter(fn.structured_input_signature[1]))

        def run(x: np.ndarray):
            return fn(**{key: tf.constant(x.transpose(0, 2, 3, 1))})
        return run, f"tensorflow {tf.__version__} SavedModel serving_default (NHWC)"
    if artifact.suffix == ".pb":  # a frozen GraphDef: its Placeholder in, the nodes nothing consumes out
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(artifact.read_bytes())
        consumed = {i.split(":")[0].lstrip("^") for n in graph_def.node for i in n.input}
        inputs = [n.name for n in graph_def.node if n.op == "Placeholder"]
        outputs = [n.name for n in graph_def.node if n.name not in consumed and n.op not in ("NoOp", "Placeholder")]
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        fn = wrapped.prune(tf.nest.map_structure(wrapped.graph.as_graph_element, f"{inputs[0]}:0"),
                           [wrapped.graph.as_graph_element(f"{o}:0") for o in outputs])

        def run(x: np.ndarray):
            return fn(tf.constant(x.transpose(0, 2, 3, 1)))
        return run, f"tensorflow {tf.__version__} frozen GraphDef (NHWC)"
    import openvino as ov

    xml = artifact if artifact.suffix == ".xml" else next(artifact.glob("*.xml"))
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}  # AutoBackend: LATENCY only
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    compiled = ov.Core().compile_model(str(xml), "CPU", config)
    used = compiled.get_property("INFERENCE_PRECISION_HINT")
    used = used.to_string() if hasattr(used, "to_string") else str(used)  # an ov.Type: "bf16", "f32"
    return (lambda x: compiled(x)), f"openvino CPU, INFERENCE_PRECISION_HINT={used}"


def cmd_latency(args: argparse.Namespace) -> dict:
    """Median/p90 of the runtime call on the same letterboxed tensor our side uses, after warm-up."""
    x = np.ascontiguousarray(np.load(args.input), dtype=np.float32)
    result = {}
    for threads in [int(t) for t in args.threads.split(",")]:
        run, runtime = _runner(Path(args.artifact), threads, args.hint)
        for _ in range(args.warmup):
            run(x)
        times: list[float] = []
        while len(times) < args.runs and (len(times) < 5 or sum(times) < args.max_seconds * 1000):
            start = time.perf_counter()
            run(x)
            times.append((time.perf_counter() - start) * 1000)
        result[str(threads)] = {"p50_ms": statistics.median(times), "p90_ms": float(np.percentile(times, 90)),
                                "runs": len(times), "runtime": runtime}
    return result


def cmd_val(args: argparse.Namespace) -> dict:
    """`YOLO(artifact).val(...)`: the metrics a user of Ultralytics reads (YOLO-style mAP)."""
    from ultralytics import YOLO

    out = Path(args.out).resolve()
    model = YOLO(args.artifact, task="pose")
    start = time.perf_counter()
    m = model.val(data=args.data, imgsz=args.imgsz, batch=1, conf=0.001, iou=0.7, device="cpu", plots=False,
                  save_json=False, verbose=False, project=str(out), name="val", exist_ok=True)
    return {"pose_map50_95": float(m.pose.map), "pose_map50": float(m.pose.map50),
            "box_map50_95": float(m.box.map), "box_map50": float(m.box.map50),
            "val_s": time.perf_counter() - start, "speed_ms": {k: float(v) for k, v in m.speed.items()}}


def cmd_persons(args: argparse.Namespace) -> dict:
    """`YOLO(artifact).predict(image, conf=...)` as a user runs it: the persons found on each image
    (xyxy pixels and score). Compared across artifacts by compare_ultralytics.py."""
    from ultralytics import YOLO

    model = YOLO(args.artifact, task="pose")
    found = {}
    for image in args.images:
        r = model.predict(image, imgsz=args.imgsz, conf=args.conf, iou=0.7, device="cpu", verbose=False,
                          save=False)[0]
        found[Path(image).name] = {"xyxy": r.boxes.xyxy.cpu().numpy().round(2).tolist(),
                                   "conf": r.boxes.conf.cpu().numpy().round(4).tolist()}
    return {"conf": args.conf, "imgsz": args.imgsz, "images": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--weights", required=True)
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--precision", default="fp32", choices=list(QUANTIZE))
    e.add_argument("--data", help="dataset yaml for INT8 calibration (its val split is read)")
    e.add_argument("--fraction", type=float, default=1.0, help="share of the calibration split to use")
    e.add_argument("--imgsz", type=int, default=640)
    e.add_argument("--sample-images", help=f"saved_model/pb: photos for onnx2tf's {ONNX2TF_SAMPLE}")
    e.add_argument("--out", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--artifact", required=True)
    lat.add_argument("--input", required=True,
                     help=".npy float32 NCHW [0, 1] letterboxed image (transposed here for NHWC models)")
    lat.add_argument("--threads", default="1,2")
    lat.add_argument("--runs", type=int, default=30)
    lat.add_argument("--warmup", type=int, default=5)
    lat.add_argument("--max-seconds", type=float, default=60.0, help="stop early past this (at least 5 calls)")
    lat.add_argument("--hint", help="OpenVINO INFERENCE_PRECISION_HINT (default: the runtime's, as Ultralytics)")
    v = sub.add_parser("val")
    v.add_argument("--artifact", required=True)
    v.add_argument("--data", required=True)
    v.add_argument("--imgsz", type=int, default=640)
    v.add_argument("--out", required=True)
    per = sub.add_parser("persons")
    per.add_argument("--artifact", required=True, help="an export, or the .pt itself (the reference)")
    per.add_argument("--images", nargs="+", required=True)
    per.add_argument("--conf", type=float, default=0.25, help="Ultralytics' predict default")
    per.add_argument("--imgsz", type=int, default=640)
    for p in (e, lat, v, per):
        p.add_argument("--json", required=True, help="write the result here")
    args = parser.parse_args()
    args.json = str(Path(args.json).resolve())  # export may change the working directory (onnx2tf)
    if getattr(args, "data", None):
        args.data = str(Path(args.data).resolve())
    result = {"export": cmd_export, "latency": cmd_latency, "val": cmd_val, "persons": cmd_persons}[args.cmd](args)
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
