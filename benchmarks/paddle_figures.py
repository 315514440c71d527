"""The Paddle fp32 figures on the real model: matched keypoints, persons, mAP and speed.

    python benchmarks/paddle_figures.py [--model yolo11n-pose.pt] [--out runs/paddle] [--threads 1,2]

Exports the Paddle artifact if --out/paddle is missing, then against the PyTorch model: persons
found, missed and invented and the matched keypoint error (original-image pixels, conf 0.25,
keypoints PyTorch scores >= 0.5) on bus.jpg, zidane.jpg and the 36 coco-val-pose images; pose /
box mAP50-95 on coco-val-pose and the drop; `Runner.forward` latency on bus.jpg at each thread
count (median after warm-up). Writes figures.json; asserts nothing. Record the CPU (printed).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from format_figures import latency, persons

from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.cpu import describe_cpu
from poseexport.paths import shared_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolo11n-pose.pt")
    parser.add_argument("--out", default="runs/paddle")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    data = shared_data_dir()
    out = Path(args.out)
    folder = out / "paddle"
    reference = PoseModel(args.model)
    if not (folder / "manifest.json").is_file():
        print("exporting paddle ...", flush=True)
        reference.export("paddle", out=folder, log=lambda *_: None)
    model = ArtifactModel(folder)
    val_images = sorted((data / "coco-val-pose" / "images").rglob("*.jpg"))
    yaml = str(data / "coco-val-pose" / "coco-val-pose.yaml")
    ref_map, got = reference.val(yaml), model.val(yaml)
    figures = {
        "cpu": describe_cpu(), "load_avg": os.getloadavg(), "model": args.model,
        "bus_zidane": persons(reference, model, [data / "images" / "bus.jpg", data / "images" / "zidane.jpg"]),
        "coco_val_pose": persons(reference, model, val_images),
        "map": {"pytorch_pose": ref_map.pose.map, "paddle_pose": got.pose.map,
                "pose_drop": ref_map.pose.map - got.pose.map,
                "pytorch_box": ref_map.box.map, "paddle_box": got.box.map},
        "latency_ms": latency(folder, [int(t) for t in args.threads.split(",")]),
        "validation": json.loads((folder / "metadata.json").read_text())["validation"].get("status"),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
