"""Validation and selftest catch an artifact that invents a person or drops one.

The faulty artifacts are test doubles that wrap the REAL loaded yolo11n-pose ONNX fp32 runner
and alter its output on the first reference image (coco_val2017_000000000785.jpg, one skier):
a confident person written into a background anchor, or the scores of every anchor around the
skier zeroed. Both the raw-output path and the in-graph-NMS path, through `validate_runner`
(export-time validation) and `check_golden` (selftest on the golden vector).
"""
from __future__ import annotations

import numpy as np
import pytest

import poseexport
from poseexport import PoseModel
from poseexport.contract import DEFAULT_TOLERANCES
from poseexport.export.trace import reference_set
from poseexport.predict.nms import box_iou, non_max_suppression, xywh_to_xyxy
from poseexport.selftest import check_golden, read_golden
from poseexport.validate import validate_runner

pytestmark = pytest.mark.slow
FP32 = DEFAULT_TOLERANCES["fp32"]
QUIET = {"log": lambda *_: None}


class AlteredRunner:
    """A real runner whose output on its first call (the first reference image) is altered."""

    def __init__(self, runner, alter):
        self.runner, self.alter, self.calls = runner, alter, 0
        self.metadata, self.batch = runner.metadata, runner.batch

    def forward(self, images: np.ndarray) -> np.ndarray:
        out = np.array(self.runner.forward(images), dtype=np.float32)
        self.calls += 1
        return self.alter(out) if self.calls == 1 else out


def invent_raw_person(out: np.ndarray) -> np.ndarray:
    """A 0.9-score person (box and 17 visible keypoints) at the first stride-32 anchor whose box
    touches no person the real output has."""
    persons = non_max_suppression(out, conf=0.05)[0]
    first32 = 80 * 80 + 40 * 40
    for cell in range(20 * 20):
        gx, gy = cell % 20, cell // 20
        box = np.array([(gx + 0.5) * 32, (gy + 0.5) * 32, 60.0, 150.0], np.float32)
        corners = xywh_to_xyxy(box[None])
        if corners.min() >= 0 and corners.max() <= 640 and not box_iou(corners, persons[:, :4]).any():
            break
    a = first32 + cell
    out[0, :4, a], out[0, 4, a] = box, 0.9
    kx = box[0] + np.linspace(-20, 20, 17)
    ky = box[1] + np.linspace(-60, 60, 17)
    out[0, 5:, a] = np.stack([kx, ky, np.full(17, 0.9)], 1).ravel()  # x, y, visibility per keypoint
    return out


def drop_top_person(out: np.ndarray) -> np.ndarray:
    """Zero the score of every anchor whose box overlaps the best person at all (IoU > 0.1)."""
    top = non_max_suppression(out, conf=0.25)[0][0]
    boxes = xywh_to_xyxy(out[0, :4].T)
    out[0, 4, box_iou(top[None, :4], boxes)[0] > 0.1] = 0.0
    return out


def invent_nms_person(out: np.ndarray) -> np.ndarray:
    row = int((out[0, :, 4] > 0).sum())  # the first empty row
    out[0, row, :6] = [20, 250, 80, 400, 0.9, 0]  # left margin of the skier image: nobody there
    out[0, row, 6:] = np.stack([np.linspace(25, 75, 17), np.linspace(260, 390, 17), np.full(17, 0.9)], 1).ravel()
    return out


def drop_nms_person(out: np.ndarray) -> np.ndarray:
    out[0, :-1] = out[0, 1:].copy()  # the best person removed, the rest moved up
    out[0, -1] = 0
    return out


@pytest.fixture(scope="module")
def real(official_pt, tmp_path_factory):
    model = PoseModel(str(official_pt))
    root = tmp_path_factory.mktemp("faults")
    raw = model.export("onnx", out=root / "raw", **QUIET)
    nms = model.export("onnx", nms=True, out=root / "nms", **QUIET)
    return {"raw": (raw, reference_set(model, raw.metadata)), "nms": (nms, reference_set(model, nms.metadata))}


def checks_of(report) -> dict:
    return {c.name: c for c in report.checks}


def both_reports(artifact, refs, alter):
    """(export-time validation, selftest) reports of the altered artifact."""
    with poseexport.load(artifact.path) as runner:
        validation = validate_runner(AlteredRunner(runner, alter), refs, FP32, "fp32")
        golden = check_golden(AlteredRunner(runner, alter), read_golden(artifact.path))
    return validation, golden


@pytest.mark.parametrize("kind", ["raw", "nms"])
def test_the_real_artifact_passes_with_persons_compared(real, kind):
    artifact, refs = real[kind]
    assert artifact.report.passed and artifact.report.persons_compared, artifact.report.table()
    rows = checks_of(artifact.report)
    # the 5 shipped photos: 10 persons (1, 4, 2, 1, 2) scoring >= 0.25 in PyTorch
    assert artifact.report.stats["persons_reference"] == 10
    assert rows["persons missed"].value == 0 and rows["persons invented"].value == 0
    assert rows["matched keypoint p95 error"].checked and rows["matched keypoint p95 error"].value < 0.05
    assert len(artifact.report.image_names) == 5


@pytest.mark.parametrize("kind", ["raw", "nms"])
def test_an_invented_background_person_fails(real, kind):
    artifact, refs = real[kind]
    alter = invent_raw_person if kind == "raw" else invent_nms_person
    for report in both_reports(artifact, refs, alter):
        rows = checks_of(report)
        assert not report.passed and report.verdict == "FAILED"
        assert rows["persons invented"].value == 1 and rows["persons invented"].limit == 0
        assert not rows["persons invented"].passed
        assert rows["persons missed"].value == 0 and rows["persons missed"].passed  # nothing else changed
        assert "✗ persons invented" in report.table()


@pytest.mark.parametrize("kind", ["raw", "nms"])
def test_a_dropped_person_fails(real, kind):
    artifact, refs = real[kind]
    alter = drop_top_person if kind == "raw" else drop_nms_person
    for report in both_reports(artifact, refs, alter):
        rows = checks_of(report)
        assert not report.passed
        assert rows["persons missed"].value == 1 and rows["persons missed"].limit == 0
        assert not rows["persons missed"].passed
        assert rows["persons invented"].value == 0
        assert report.stats["persons_matched"] == 9 and report.stats["match_ratio"] == pytest.approx(0.9)
