"""Our COCO-protocol AP against the official evaluators, on the real coco-val-pose JSON."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from poseexport.metrics import COCO_KPT_SIGMAS, coco_protocol_ap
from poseexport.val.coco_eval import evaluate_coco

EVALUATORS = [name for name, module in (("faster-coco-eval", "faster_coco_eval"),
                                        ("pycocotools", "pycocotools"))
              if importlib.util.find_spec(module)]


@pytest.fixture(scope="module")
def gt_json(data_dir: Path) -> Path:
    return data_dir / "coco-val-pose" / "annotations" / "person_keypoints_subset.json"


def noisy_detections(gt: dict, seed: int = 0) -> list[dict]:
    """Every annotation (crowds and 0-keypoint persons too) as a jittered detection, plus clutter."""
    rng = np.random.default_rng(seed)
    out = []
    for ann in gt["annotations"]:
        x, y, w, h = ann["bbox"]
        kp = np.asarray(ann["keypoints"], float).reshape(17, 3)
        if not kp[:, 2].any():  # no keypoints: guess them inside the box
            kp[:, 0], kp[:, 1] = x + rng.random(17) * w, y + rng.random(17) * h
        kp[:, :2] += rng.normal(0, 0.04 * np.sqrt(w * h) + 1, (17, 2))
        kp[:, 2] = rng.random(17)
        box = np.array([x, y, w, h]) + rng.normal(0, 0.05 * np.sqrt(w * h) + 1, 4)
        for copy in range(2):  # a duplicate with a lower score: a false positive
            out.append({"image_id": ann["image_id"], "category_id": 1, "bbox": box.tolist(),
                        "keypoints": kp.reshape(-1).tolist(), "score": float(rng.random()) / (1 + copy)})
    for image in gt["images"]:
        for _ in range(3):  # clutter
            x, y = rng.random() * image["width"] * 0.8, rng.random() * image["height"] * 0.8
            kp = np.stack([x + rng.random(17) * 80, y + rng.random(17) * 80, rng.random(17)], 1)
            out.append({"image_id": image["id"], "category_id": 1, "bbox": [x, y, 80.0, 80.0],
                        "keypoints": kp.reshape(-1).tolist(), "score": float(rng.random()) * 0.5})
    return out


def test_ground_truth_as_detections_gives_ap_one(gt_json: Path):
    gt = json.loads(gt_json.read_text())
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "keypoints": a["keypoints"],
             "score": 1.0} for a in gt["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    result = coco_protocol_ap(gt, dets, "keypoints")
    assert (result.ap, result.ap50, result.ap75) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("evaluator", EVALUATORS or [pytest.param(
    "none", marks=pytest.mark.skip(reason="neither faster-coco-eval nor pycocotools is installed"))])
def test_ours_equals_the_official_evaluator(gt_json: Path, evaluator: str):
    gt = json.loads(gt_json.read_text())
    dets = noisy_detections(gt)
    img_ids = sorted(im["id"] for im in gt["images"])[:30]  # a subset, as val restricts imgIds
    report = evaluate_coco(gt, gt_json, dets, img_ids, COCO_KPT_SIGMAS, evaluator)
    assert report.evaluator.startswith(evaluator)
    ours, official = report.ours_pose, report.official_pose
    assert 0.2 < ours.ap < 0.9  # a non-trivial case
    assert (ours.ap, ours.ap50, ours.ap75) == pytest.approx(
        (official.ap, official.ap50, official.ap75), abs=1e-9)
    assert (report.ours_box.ap, report.ours_box.ap50) == pytest.approx(
        (report.official_box.ap, report.official_box.ap50), abs=1e-9)
