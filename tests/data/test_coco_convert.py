"""COCO keypoint JSON -> YOLO labels reproduces the shipped coco-val-pose labels exactly."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poseexport.data.coco_convert import coco_results, coco_to_yolo


def test_converter_reproduces_shipped_labels_line_for_line(data_dir: Path, tmp_path: Path):
    src = data_dir / "coco-val-pose"
    report = coco_to_yolo(src / "annotations" / "person_keypoints_subset.json", tmp_path)
    assert (report.label_files, report.lines) == (36, 80)
    assert (report.skipped_crowd, report.skipped_no_keypoints, report.background_images) == (1, 26, 0)
    shipped = sorted(p.name for p in (src / "labels").glob("*.txt"))
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == shipped
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (src / "labels" / name).read_bytes(), name


def test_predictions_to_coco_results():
    kpts = np.zeros((1, 17, 3), np.float32)
    kpts[0, :, 0], kpts[0, :, 1], kpts[0, :, 2] = 10.0, 20.0, 0.75
    out = coco_results(139, np.array([[10.0, 20.0, 50.0, 100.0]]), np.array([0.9]),
                       np.array([0.0]), kpts)
    assert out == [{"image_id": 139, "category_id": 1, "bbox": [10.0, 20.0, 40.0, 80.0],
                    "keypoints": [10.0, 20.0, 0.75] * 17, "score": float(np.float64(0.9))}]
    json.dumps(out)  # plain Python types only
