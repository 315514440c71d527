"""The validation loop with a fake runtime that returns the ground truth (no model needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poseexport.data import load_split
from poseexport.errors import BadDatasetError, UnsupportedOptionError
from poseexport.predict import preprocess, read_image
from poseexport.predict.api import PredictsPoses
from poseexport.val import ValOptions, validate, validate_model
from poseexport.val.image_match import ground_truth_pixels

NAMES, KPT = {0: "person"}, (17, 3)


def perfect_infer(dataset):
    """An `infer` that answers each batch-of-one with that image's labels as raw output."""
    samples = iter(dataset.samples)

    def infer(batch: np.ndarray) -> np.ndarray:
        sample = next(samples)
        image = read_image(sample.image)
        _, (info,) = preprocess([image], batch.shape[2:])
        _, boxes, kpts = ground_truth_pixels(sample, image.shape[:2])
        (left, top), g = info.pad, info.gain
        n = len(boxes)
        raw = np.zeros((1, 56, n + 1), np.float32)
        raw[0, 0, :n] = (boxes[:, 0] + boxes[:, 2]) / 2 * g + left
        raw[0, 1, :n] = (boxes[:, 1] + boxes[:, 3]) / 2 * g + top
        raw[0, 2, :n] = (boxes[:, 2] - boxes[:, 0]) * g
        raw[0, 3, :n] = (boxes[:, 3] - boxes[:, 1]) * g
        raw[0, 4, :n] = np.linspace(0.9, 0.8, n)
        raw[0, 5::3, :n] = (kpts[..., 0] * g + left).T
        raw[0, 6::3, :n] = (kpts[..., 1] * g + top).T
        raw[0, 7::3, :n] = kpts[..., 2].T
        return raw

    return infer


def test_perfect_predictions_on_coco_val_pose(data_dir: Path, tmp_path: Path):
    ds = load_split(data_dir / "coco-val-pose" / "coco-val-pose.yaml", progress=False)
    options = ValOptions(progress=False, save_dir=tmp_path / "run", evaluator="none")
    m = validate(perfect_infer(ds), ds, options, names=NAMES, kpt_shape=KPT)
    assert (m.images, m.instances) == (36, 80)
    # YOLO-style AP of a perfect detector is 0.995 (see metrics/ap.py); P = R = 1
    for task in (m.box, m.pose):
        assert (task.map50, task.map75, task.map) == pytest.approx((0.995, 0.995, 0.995))
        assert (task.mp, task.mr) == pytest.approx((1.0, 1.0))
    # COCO keypoints: crowds and 0-keypoint persons are ignore regions, so AP is 1.
    assert m.coco.ours_pose.ap == 1.0
    # COCO boxes: the 26 persons without keypoints are real box GT missing from the YOLO
    # labels: recall tops out at 80/106, so 76 of the 101 recall points have precision 1.
    assert m.coco.ours_box.ap == pytest.approx(76 / 101)
    assert m.coco.official_pose is None and "not run" in m.notes[0]
    d = m.to_dict()
    assert set(d) == {"box", "pose", "images", "instances", "speed_ms", "coco_ours", "notes"}
    assert set(d["speed_ms"]) == {"preprocess", "inference", "postprocess"}
    written = {p.name for p in m.files}
    assert written == {"predictions.json", "box_pr_curve.png", "pose_pr_curve.png"}
    preds = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert len(preds) == 80 and {p["image_id"] for p in preds} >= {139, 785}
    assert (tmp_path / "run" / "pose_pr_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_broken_label_file_is_reported_and_the_rest_evaluated(coco8_copy: Path):
    labels = sorted((coco8_copy.parent / "labels" / "val").glob("*.txt"))
    lines = labels[1].read_text().splitlines()
    labels[1].write_text("\n".join(lines[:2] + ["0 0.5 0.5 0.2 0.2 7"] + lines[2:]) + "\n")
    ds = load_split(coco8_copy, progress=False)
    m = validate(perfect_infer(ds), ds, ValOptions(progress=False), names=NAMES, kpt_shape=KPT)
    assert m.images == 3 and m.dataset.rejected == 1
    assert f"{labels[1]}:3: 6 columns, expected 56" in m.notes[0]
    assert m.pose.map50 == pytest.approx(0.995)


def test_layout_mismatch_and_bad_options(data_dir: Path):
    yaml_path = data_dir / "coco8-pose" / "coco8-pose.yaml"
    with pytest.raises(BadDatasetError, match="does not fit the model"):
        validate(lambda b: b, yaml_path, ValOptions(progress=False), names=NAMES, kpt_shape=(5, 3))
    with pytest.raises(UnsupportedOptionError, match="multiple of the model stride"):
        validate(lambda b: b, yaml_path, ValOptions(imgsz=630), names=NAMES, kpt_shape=KPT)
    with pytest.raises(UnsupportedOptionError, match="rect_pad"):
        ValOptions(rect_pad=0.5).checked(32)
    with pytest.raises(UnsupportedOptionError, match="Unknown validation option"):
        ValOptions.from_kwargs(confidence=0.1)


class NoPersonModel(PredictsPoses):
    """The model surface validate_model needs, answering 'nobody' everywhere."""

    names, kpt_shape, stride = NAMES, KPT, 32

    def forward_numpy(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 56, 8), np.float32)


def test_validate_model_remembers_its_data(data_dir: Path):
    model = NoPersonModel()
    with pytest.raises(BadDatasetError, match="No dataset to validate on"):
        validate_model(model)
    yaml_path = data_dir / "coco8-pose" / "coco8-pose.yaml"
    first = validate_model(model, yaml_path, progress=False)
    assert model.data == str(yaml_path)
    again = validate_model(model, progress=False)
    assert (again.images, again.instances, again.pose.map, again.box.mr) == (4, 14, 0.0, 0.0)
    assert first.to_dict()["box"] == again.to_dict()["box"]
