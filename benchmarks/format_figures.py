"""Per-artifact figures on the real model: accuracy, persons and speed, for any format.

    python benchmarks/format_figures.py --kinds tflite-fp32,tflite-full-integer,ncnn-fp32,mnn-int8
        [--model yolo11n-pose.pt] [--out runs/figures] [--threads 1,2]

Exports what is missing under --out (int8 calibrated on shared/data/calib-people), then for each
artifact: pose / box mAP50-95 on coco-val-pose (and the drop against the PyTorch model), the
persons it finds on the five packaged reference images + bus.jpg + zidane.jpg against PyTorch
(conf 0.25: found, missed, invented, matched keypoint error in original-image pixels), and the
latency of `Runner.forward` at each thread count (median after warm-up, bus.jpg), with the
speed-up against the same format's fp32 (`<format>-fp32`, when it is among the kinds). Prints
each row and writes figures.json; asserts nothing. Record the CPU (printed) and the machine's
load beside the figures. The kinds are the table below (`--kinds` names them).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np

from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.cpu import describe_cpu
from poseexport.paths import shared_data_dir
from poseexport.predict.nms import box_iou

KINDS = {  # name -> (format, export keywords)
    "onnx-fp32": ("onnx", {}),  # ONNX Runtime: the scale other runtimes' latency is read against
    "saved_model": ("saved_model", {}),
    "pb": ("pb", {}),
    "tflite-fp32": ("tflite", {}),
    "tflite-fp16": ("tflite", {"half": True}),
    "tflite-dynamic-range": ("tflite", {"int8": True, "int8_kind": "dynamic-range"}),
    "tflite-full-integer": ("tflite", {"int8": True, "int8_kind": "full-integer"}),
    "tflite-full-integer-io": ("tflite", {"int8": True, "int8_kind": "full-integer-io"}),
    "tflite-float-keypoints": ("tflite", {"int8": True, "int8_kind": "float-keypoints"}),
    "ncnn-fp32": ("ncnn", {}),
    "ncnn-fp16": ("ncnn", {"half": True}),
    "mnn-fp32": ("mnn", {}),
    "mnn-fp16": ("mnn", {"half": True}),
    "mnn-int8": ("mnn", {"int8": True, "int8_kind": "full-integer"}),
    "mnn-float-keypoints": ("mnn", {"int8": True, "int8_kind": "float-keypoints"}),
    "mnn-weight-only": ("mnn", {"int8": True, "int8_kind": "weight-only"}),
    "paddle-fp32": ("paddle", {}),
    "executorch-fp32": ("executorch", {}),
    "executorch-int8": ("executorch", {"int8": True}),
    "executorch-int8-histogram": ("executorch", {"int8": True, "int8_observer": "histogram"}),
}
MATCH_IOU = 0.5


def export_missing(model: PoseModel, kinds: list[str], out: Path, calib: Path) -> dict[str, Path]:
    folders = {}
    for kind in kinds:
        fmt, kwargs = KINDS[kind]
        folder = out / kind
        if not (folder / "manifest.json").is_file():
            if kwargs.get("int8"):
                kwargs = {**kwargs, "data": str(calib)}
            print(f"exporting {kind} ...", flush=True)
            try:
                model.export(fmt, out=folder, log=lambda *_: None, **kwargs)
            except Exception as err:  # a failed validation keeps the artifact: measure it anyway
                print(f"  {kind}: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
        if (folder / "manifest.json").is_file():
            folders[kind] = folder
    return folders


def persons(reference: PoseModel, artifact: ArtifactModel, images: list[Path]) -> dict:
    """Persons found / missed / invented against PyTorch (IoU >= MATCH_IOU, one to one) and the
    error of every matched keypoint PyTorch sees (score >= 0.5), in original-image pixels."""
    found = missed = invented = 0
    errors = []
    for image in images:
        a, b = artifact.predict(str(image))[0], reference.predict(str(image))[0]
        found += len(a.boxes.xyxy)
        iou = box_iou(b.boxes.xyxy, a.boxes.xyxy) if len(a.boxes.xyxy) and len(b.boxes.xyxy) else \
            np.zeros((len(b.boxes.xyxy), len(a.boxes.xyxy)))
        used = np.zeros(iou.shape[1], bool)
        for i in range(iou.shape[0]):
            free = np.flatnonzero(~used & (iou[i] >= MATCH_IOU))
            if not len(free):
                missed += 1
                continue
            j = int(free[np.argmax(iou[i, free])])
            used[j] = True
            visible = b.keypoints.conf[i] >= 0.5
            errors.append(np.linalg.norm(a.keypoints.xy[j][visible] - b.keypoints.xy[i][visible], axis=1))
        invented += int((~used).sum())
    err = np.concatenate(errors) if errors else np.zeros(0)
    return {"images": len(images), "found": found, "missed": missed, "invented": invented, "keypoints": int(err.size),
            "kpt_px_max": float(err.max()) if err.size else None,
            "kpt_px_mean": float(err.mean()) if err.size else None,
            "kpt_px_p95": float(np.percentile(err, 95)) if err.size else None}


def latency(folder: Path, threads: list[int]) -> dict:
    import poseexport
    from poseexport.benchmark.measure import time_infer
    from poseexport.benchmark.spec import LatencyPlan
    from poseexport.predict import preprocess, read_image

    plan = LatencyPlan(warmup=5, iterations=20, budget_s=math.inf)
    figures = {}
    for t in threads:
        with poseexport.load(folder, threads=t) as runner:
            image, _ = preprocess([read_image(shared_data_dir() / "images" / "bus.jpg")], runner.imgsz,
                                  stride=runner.stride)
            figures[t] = round(time_infer(runner.forward, image, plan)["p50_ms"], 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolo11n-pose.pt")
    parser.add_argument("--out", default="runs/figures")
    parser.add_argument("--kinds", required=True, help="comma-separated, of: " + ", ".join(KINDS))
    parser.add_argument("--threads", default="1,2", help='thread counts to time at ("": accuracy only)')
    parser.add_argument("--latency-only", action="store_true",
                        help="skip mAP and persons: time the artifacts only (all in one run, so their ratios hold)")
    args = parser.parse_args()
    data = shared_data_dir()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kinds = args.kinds.split(",")
    threads = [int(t) for t in args.threads.split(",") if t]  # --threads "": no latency
    reference = PoseModel(args.model)
    folders = export_missing(reference, kinds, out, data / "calib-people")
    packaged = Path(__file__).resolve().parents[1] / "poseexport" / "reference_images"
    images = [*sorted(packaged.glob("*.jpg")), data / "images" / "bus.jpg", data / "images" / "zidane.jpg"]
    yaml = str(data / "coco-val-pose" / "coco-val-pose.yaml")
    ref_map = None if args.latency_only else reference.val(yaml)
    figures = {"cpu": describe_cpu(), "load_avg": os.getloadavg(), "model": args.model,
               "pytorch": ref_map and {"pose_map": ref_map.pose.map, "box_map": ref_map.box.map}, "artifacts": {}}
    for kind, folder in folders.items():
        row = {"validation": json.loads((folder / "metadata.json").read_text())["validation"].get("status")}
        if not args.latency_only:
            model = ArtifactModel(folder)
            metrics = model.val(yaml)
            row.update({"pose_map": metrics.pose.map, "box_map": metrics.box.map,
                        "pose_map_drop": ref_map.pose.map - metrics.pose.map,
                        "persons": persons(reference, model, images)})
        if KINDS[kind][0] not in ("saved_model", "pb"):  # TensorFlow graphs: not a deployment runtime
            row["latency_ms"] = latency(folder, threads)
        figures["artifacts"][kind] = row
        print(kind, json.dumps(row), f"load {os.getloadavg()[0]:.1f}", flush=True)
    for kind, row in figures["artifacts"].items():
        base = figures["artifacts"].get(f"{KINDS[kind][0]}-fp32", {}).get("latency_ms")
        if base and "latency_ms" in row:
            row["speedup_vs_fp32"] = {t: round(base[t] / row["latency_ms"][t], 2) for t in base}
    figures["load_avg_end"] = os.getloadavg()
    (out / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
