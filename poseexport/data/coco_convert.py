"""COCO keypoint JSON <-> YOLO pose labels, and predictions -> COCO results JSON.

Ground truth -> YOLO: one line per annotation that is not a crowd region
(`iscrowd` 0), has `num_keypoints` > 0 and a box with w, h > 0; every other
annotation stays only in the JSON. Line = `class cx cy w h` + K x `x y v`, all
divided by the image record's width / height, no clipping, every number "%.6f"
(v too: 2.000000), in the JSON's annotation order. Category ids map to class
indices in the order of the JSON's `categories` list. Images with no kept
annotation get no label file (a background image).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import BadDatasetError


@dataclass(frozen=True)
class ConvertReport:
    """What `coco_to_yolo` wrote."""

    label_files: int
    lines: int
    skipped_crowd: int
    skipped_no_keypoints: int
    skipped_empty_box: int
    background_images: int


def read_coco_json(path: str | Path) -> dict:
    """Load a COCO annotation file, with a clear error if it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadDatasetError(f"Cannot read the COCO annotation file {path}", str(err),
                              "pass an existing COCO-format JSON file") from err
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise BadDatasetError(f"{path} is not a COCO annotation file",
                              "it lacks one of 'images', 'annotations', 'categories'",
                              "pass a COCO person_keypoints_*.json")
    return data


def yolo_label_lines(coco: Mapping) -> tuple[dict[str, list[str]], ConvertReport]:
    """{image file stem: [label lines]} for every image with at least one kept annotation."""
    images = {rec["id"]: rec for rec in coco["images"]}
    class_of = {cat["id"]: i for i, cat in enumerate(coco["categories"])}
    lines: dict[str, list[str]] = {}
    crowd = no_kpts = empty_box = 0
    for ann in coco["annotations"]:
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        if ann.get("num_keypoints", 0) <= 0:
            no_kpts += 1
            continue
        x, y, w, h = ann["bbox"]
        if w <= 0 or h <= 0:
            empty_box += 1
            continue
        rec = images[ann["image_id"]]
        lines.setdefault(Path(rec["file_name"]).stem, []).append(
            _yolo_line(class_of[ann["category_id"]], ann["bbox"], ann["keypoints"],
                       rec["width"], rec["height"]))
    stems = {Path(rec["file_name"]).stem for rec in coco["images"]}
    report = ConvertReport(len(lines), sum(map(len, lines.values())), crowd, no_kpts, empty_box,
                           len(stems - set(lines)))
    return lines, report


def _yolo_line(cls: int, bbox: Sequence[float], keypoints: Sequence[float], width: float,
               height: float) -> str:
    x, y, w, h = bbox
    values = [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]
    for i in range(0, len(keypoints), 3):
        values += [keypoints[i] / width, keypoints[i + 1] / height, float(keypoints[i + 2])]
    return f"{cls} " + " ".join(f"{v:.6f}" for v in values)


def coco_to_yolo(json_path: str | Path, labels_dir: str | Path) -> ConvertReport:
    """Write one `<stem>.txt` per image with kept annotations into `labels_dir`."""
    lines, report = yolo_label_lines(read_coco_json(json_path))
    out = Path(labels_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stem, rows in lines.items():
        (out / f"{stem}.txt").write_text("\n".join(rows) + "\n", encoding="ascii", newline="\n")
    return report


def coco_results(image_id: int | str, boxes_xyxy: np.ndarray, scores: np.ndarray,
                 classes: np.ndarray, keypoints: np.ndarray,
                 category_ids: Sequence[int] | None = None) -> list[dict]:
    """One image's detections as COCO results: bbox [x, y, w, h], keypoints [x, y, v] * K.

    v is the predicted keypoint score (1.0 for layouts without one); score is the
    box score. `category_ids[c]` maps class index c to a COCO category id
    (default: c + 1, i.e. person = 1).
    """
    out = []
    for box, score, cls, kpts in zip(boxes_xyxy, scores, classes, keypoints):
        x1, y1, x2, y2 = (float(v) for v in box)
        kpts = np.asarray(kpts, dtype=np.float64)
        vis = kpts[:, 2] if kpts.shape[1] >= 3 else np.ones(len(kpts))
        flat = np.stack([kpts[:, 0], kpts[:, 1], vis], 1).reshape(-1)
        c = int(cls)
        out.append({
            "image_id": image_id,
            "category_id": int(category_ids[c]) if category_ids is not None else c + 1,
            "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
            "keypoints": [round(float(v), 3) for v in flat],
            "score": float(score),
        })
    return out


def image_id_map(coco: Mapping) -> dict[str, int]:
    """file name (without folders) -> COCO image id."""
    return {Path(rec["file_name"]).name: rec["id"] for rec in coco["images"]}


def write_results_json(results: Iterable[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(results)), encoding="utf-8")
    return path
