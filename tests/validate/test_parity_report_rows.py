"""The parity report's rows and verdict when the reference finds no person, the limits each row is
judged by, and tolerances read from manifests written before the per-person limits."""
from __future__ import annotations

import numpy as np
import pytest

from poseexport.contract import DEFAULT_TOLERANCES, Tolerance
from poseexport.errors import BadArtifactError
from poseexport.validate.parity import _match_detections, compare_outputs

OLD_FP32 = {"box_px": 0.05, "score": 1e-3, "kpt_px": 0.05, "matched_kpt_px": 0.05, "score_drift": 2e-3,
            "min_match_ratio": 1.0}  # a manifest's tolerance before this version


def personless_outputs(images: int = 2, anchors: int = 84) -> tuple[np.ndarray, np.ndarray]:
    """(artifact, reference) raw outputs in which no anchor scores above 0.01."""
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 64, (images, 56, anchors)).astype(np.float32)
    ref[:, 4] = rng.uniform(0, 0.01, (images, anchors))
    ours = ref + rng.normal(0, 1e-4, ref.shape).astype(np.float32)
    return ours, ref


def test_no_reference_person_is_said_not_compared_never_passed():
    ours, ref = personless_outputs()
    report = compare_outputs(ours, ref, 1, (17, 3), DEFAULT_TOLERANCES["fp32"], "fp32")
    rows = {c.name: c for c in report.checks}
    assert report.stats["persons_reference"] == 0 and report.stats["match_ratio"] is None
    assert not report.persons_compared
    for name in ("persons missed", "matched keypoint mean error", "matched keypoint p95 error",
                 "matched score drift p95"):
        assert not rows[name].checked and rows[name].note == "not checked: the reference found no persons"
    assert rows["persons invented"].checked and rows["persons invented"].value == 0
    # raw tensors are compared on every anchor (none is relevant), so fp32 still passes on them
    assert rows["box max error"].note == "on all 168 anchors (none scores >= 0.05)"
    assert 0 < rows["box max error"].value < 1e-3
    assert report.passed
    assert report.verdict.startswith("PASSED on raw tensors only; persons NOT compared")
    assert "– persons missed" in report.table() and report.to_dict()["persons_compared"] is False


def test_int8_without_reference_persons_is_not_checked_and_does_not_pass():
    ours, ref = personless_outputs()
    report = compare_outputs(ours, ref, 1, (17, 3), DEFAULT_TOLERANCES["int8"], "int8")
    assert {c.name for c in report.checks if c.group == "raw"} == set()  # int8 has no raw rows
    assert not report.passed and report.verdict.startswith("NOT CHECKED")


def test_each_row_prints_the_limit_it_is_judged_by():
    ours, ref = personless_outputs()
    ref[0, 4, 10], ref[0, :4, 10] = 0.9, [30, 30, 10, 20]
    ours[0, 4, 10], ours[0, :4, 10] = 0.1, [30, 30, 10, 20]  # the artifact loses the one person
    tol = Tolerance(box_px=1.0, score=None, kpt_px=1.0, matched_kpt_px=1.0, matched_kpt_p95_px=2.0,
                    score_drift=0.05, max_missed=0, max_invented=3, judge_margin=0.05)
    report = compare_outputs(ours, ref, 1, (17, 3), tol, "fp32")
    rows = {c.name: c for c in report.checks}
    assert (rows["persons missed"].value, rows["persons missed"].limit, rows["persons missed"].passed) == (1, 0, False)
    assert rows["persons invented"].limit == 3
    assert "✗ persons missed                          1    (limit 0)  of 1 reference persons scoring >= 0.3" \
        in report.table()
    assert report.verdict == "FAILED"


def test_persons_near_the_threshold_are_not_judged():
    person = np.zeros(6 + 51, np.float32)
    person[:6] = [0, 0, 10, 10, 0.27, 0]
    far = person.copy()
    far[:4] = [100, 100, 120, 120]
    # the reference's person at 0.27 is gone in the artifact, which has another at 0.27: neither
    # scores 0.05 above the 0.25 threshold, so neither counts as missed or invented
    det = _match_detections([far[None]], [person[None]], (17, 3), margin=0.05)
    assert (det["persons_missed"], det["persons_invented"], det["persons_matched"]) == (0, 0, 0)
    det = _match_detections([far[None]], [person[None]], (17, 3), margin=0.0)
    assert (det["persons_missed"], det["persons_invented"]) == (1, 1)


def test_old_manifest_tolerance_is_completed_with_this_versions_defaults():
    tol = Tolerance.from_dict(OLD_FP32, "fp32")
    assert tol.box_px == 0.05 and tol.max_missed == 0 and tol.max_invented == 0
    assert tol.matched_kpt_p95_px == DEFAULT_TOLERANCES["fp32"].matched_kpt_p95_px
    old_int8 = {"box_px": 25.0, "score": None, "kpt_px": 40.0, "matched_kpt_px": 4.0, "score_drift": 0.15,
                "min_match_ratio": 0.85}
    assert Tolerance.from_dict(old_int8, "int8").max_missed == DEFAULT_TOLERANCES["int8"].max_missed
    with pytest.raises(BadArtifactError, match="matched_kpt_p95_px"):
        Tolerance.from_dict(OLD_FP32, "fp8")
