"""The Ultralytics side of the peer table. Runs INSIDE the throw-away peer env
(benchmarks/peers/setup_ultralytics_env.sh), never in poseexport's; compare_ultralytics.py
drives it through subprocesses. Uses Ultralytics' public API only.

    PY=/work/peers/ultralytics-venv/bin/python
    $PY ultralytics_cells.py export --weights W.pt --format onnx --precision int8 --data calib.yaml --out DIR --json e.json
    $PY ultralytics_cells.py latency --artifact A --input x.npy --threads 1,2 --runs 30 --json l.json
    $PY ultralytics_cells.py val --artifact A --data val.yaml --out DIR --json v.json

Set YOLO_CONFIG_DIR, YOLO_OFFLINE=1 and YOLO_AUTOINSTALL=False (see /work/peers/READY).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

QUANTIZE = {"fp32": None, "fp16": 16, "int8": 8}


def cmd_export(args: argparse.Namespace) -> dict:
    """Export like a user would (`YOLO(pt).export(...)`); the artifact lands beside the copied .pt."""
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    weights = out / Path(args.weights).name
    shutil.copyfile(args.weights, weights)  # Ultralytics writes the export next to the weights
    start = time.perf_counter()
    from ultralytics import YOLO

    model = YOLO(str(weights), task="pose")
    kwargs = {"format": args.format, "imgsz": args.imgsz, "batch": 1, "device": "cpu"}
    if QUANTIZE[args.precision] is not None:
        kwargs["quantize"] = QUANTIZE[args.precision]
    if args.precision == "int8":
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--weights", required=True)
    e.add_argument("--format", required=True, choices=["torchscript", "onnx", "openvino"])
    e.add_argument("--precision", default="fp32", choices=list(QUANTIZE))
    e.add_argument("--data", help="dataset yaml for INT8 calibration (its val split is read)")
    e.add_argument("--fraction", type=float, default=1.0, help="share of the calibration split to use")
    e.add_argument("--imgsz", type=int, default=640)
    e.add_argument("--out", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--artifact", required=True)
    lat.add_argument("--input", required=True, help=".npy float32 NCHW [0, 1] letterboxed image")
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
    for p in (e, lat, v):
        p.add_argument("--json", required=True, help="write the result here")
    args = parser.parse_args()
    result = {"export": cmd_export, "latency": cmd_latency, "val": cmd_val}[args.cmd](args)
    Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
