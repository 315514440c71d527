"""Host decode against in-graph decode, on the real model and real images.

    python benchmarks/host_decode_parity.py [--model yolo11n-pose.pt] [--out runs/host_decode]

Exports the model to ONNX twice (`--decode graph`, `--decode host`), then on bus.jpg, zidane.jpg
and every coco-val-pose image compares the persons each predicts (count, boxes, keypoints in
original-image pixels) and the pose / box mAP50-95 of both on coco-val-pose, and runs
`poseexport selftest` on the host-decode artifact. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.cpu import describe_cpu
from poseexport.paths import shared_data_dir
from poseexport.selftest import selftest


def export_both(model: PoseModel, out: Path) -> dict[str, Path]:
    folders = {}
    for decode in ("graph", "host"):
        folder = out / f"onnx_{decode}"
        if not (folder / "manifest.json").is_file():
            model.export("onnx", decode=decode, out=folder, log=lambda *_: None)
        folders[decode] = folder
    return folders


def compare_persons(graph: ArtifactModel, host: ArtifactModel, images: list[Path]) -> dict:
    worst_kpt, worst_box, worst_score, count_diff, persons = 0.0, 0.0, 0.0, 0, 0
    for image in images:
        a, b = graph.predict(str(image))[0], host.predict(str(image))[0]
        if len(a.boxes.xyxy) != len(b.boxes.xyxy):
            count_diff += 1
            continue
        persons += len(a.boxes.xyxy)
        if len(a.boxes.xyxy):
            worst_box = max(worst_box, float(np.abs(a.boxes.xyxy - b.boxes.xyxy).max()))
            worst_kpt = max(worst_kpt, float(np.abs(a.keypoints.xy - b.keypoints.xy).max()))
            worst_score = max(worst_score, float(np.abs(a.boxes.conf - b.boxes.conf).max()))
    return {"images": len(images), "images_with_other_person_count": count_diff, "persons": persons,
            "box_px_max": worst_box, "kpt_px_max": worst_kpt, "score_max": worst_score}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolo11n-pose.pt")
    parser.add_argument("--out", default="runs/host_decode")
    args = parser.parse_args()
    data = shared_data_dir()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folders = export_both(PoseModel(args.model), out)
    graph, host = ArtifactModel(folders["graph"]), ArtifactModel(folders["host"])
    images = [data / "images" / "bus.jpg", data / "images" / "zidane.jpg",
              *sorted((data / "coco-val-pose" / "images").rglob("*.jpg"))]
    figures = {"cpu": describe_cpu(), "persons": compare_persons(graph, host, images)}
    yaml = str(data / "coco-val-pose" / "coco-val-pose.yaml")
    for name, model in (("graph", graph), ("host", host)):
        metrics = model.val(yaml)
        figures[f"map_{name}"] = {"pose": metrics.pose.map, "box": metrics.box.map}
    figures["map_diff"] = {k: abs(figures["map_graph"][k] - figures["map_host"][k]) for k in ("pose", "box")}
    figures["selftest_host_passed"] = selftest(folders["host"], log=lambda *_: None)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
