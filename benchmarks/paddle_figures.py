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

import numpy as np
from tf_family_figures import MATCH_IOU, latency

from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.cpu import describe_cpu
from poseexport.paths import shared_data_dir
from poseexport.predict.nms import box_iou


def matched(reference: PoseModel, artifact: ArtifactModel, images: list[Path]) -> dict:
    """Persons and the error of every matched visible keypoint, max included."""
    found = missed = invented = 0
    errors = []
    for image in images:
        a, b = artifact.predict(str(image))[0], reference.predict(str(image))[0]
        found += len(a.boxes.xyxy)
        if len(a.boxes.xyxy) and len(b.boxes.xyxy):
            iou = box_iou(b.boxes.xyxy, a.boxes.xyxy)
        else:
            iou = np.zeros((len(b.boxes.xyxy), len(a.boxes.xyxy)))
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
            "kpt_px_mean": float(err.mean()) if err.size else None}


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
        "bus_zidane": matched(reference, model, [data / "images" / "bus.jpg", data / "images" / "zidane.jpg"]),
        "coco_val_pose": matched(reference, model, val_images),
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
