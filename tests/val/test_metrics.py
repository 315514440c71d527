"""Metric units: OKS, matching, AP conventions, with hand-computed expected numbers."""
from __future__ import annotations

import numpy as np
import pytest

from poseexport.metrics import (
    COCO_KPT_SIGMAS,
    IOU_THRESHOLDS,
    TaskMetrics,
    ap_per_class,
    default_sigmas,
    interpolated_ap,
    keypoint_oks,
    match_predictions,
)


def test_oks_of_identical_keypoints_is_one_and_of_a_known_offset_matches_the_formula():
    gt = np.zeros((1, 17, 3))
    gt[0, :, :2] = np.arange(34).reshape(17, 2) * 3.0
    gt[0, :, 2] = 2
    gt[0, 5, 2] = 0  # unlabelled: ignored
    assert keypoint_oks(gt, gt, np.array([1000.0]), COCO_KPT_SIGMAS)[0, 0] == pytest.approx(1.0)
    pred = gt.copy()
    pred[0, 0, 0] += 4.0  # one keypoint 4 px off
    pred[0, 5, :2] += 500.0  # far off, but unlabelled in the GT
    e = 16.0 / (2 * 1000.0 * (2 * 0.026) ** 2)
    expected = (15 + np.exp(-e)) / 16
    assert keypoint_oks(gt, pred, np.array([1000.0]), COCO_KPT_SIGMAS)[0, 0] == pytest.approx(expected)


def test_sigmas_are_coco_for_17_keypoints_else_equal():
    assert default_sigmas(17)[0] == pytest.approx(0.026) and default_sigmas(17)[11] == pytest.approx(0.107)
    np.testing.assert_allclose(default_sigmas(4), [0.25] * 4)


def test_matching_credits_the_highest_scoring_prediction_that_picked_the_gt():
    # one GT; prediction 0 (higher score) overlaps 0.62, prediction 1 overlaps 0.88
    tp = match_predictions(np.array([0, 0]), np.array([0]), np.array([[0.62, 0.88]]))
    assert tp[0].tolist() == [True] * 3 + [False] * 7  # thresholds .50 .55 .60
    assert tp[1].tolist() == [False] * 3 + [True] * 5 + [False] * 2  # .65 ... .85
    # another class never matches
    assert not match_predictions(np.array([1]), np.array([0]), np.array([[0.99]])).any()
    assert len(IOU_THRESHOLDS) == 10


def test_ap_of_a_perfect_detector():
    recall, precision = np.array([0.5, 1.0]), np.array([1.0, 1.0])
    assert interpolated_ap(recall, precision, "coco")[0] == 1.0
    # the YOLO-style rule puts its 101st point on the (recall 1, precision 0) sentinel
    assert interpolated_ap(recall, precision, "continuous")[0] == pytest.approx(0.995)


def test_ap_of_a_hand_made_case():
    # 2 GT; predictions by score: TP, FP, TP -> recall .5 .5 1, precision 1 .5 2/3
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    # coco: 51 recall points (0..0.50) see precision 1, the other 50 the envelope 2/3
    assert interpolated_ap(recall, precision, "coco")[0] == pytest.approx((51 + 50 * 2 / 3) / 101)
    # continuous: 1 on [0, .5), 2/3 on [.5, 1), 0 at 1; trapezoid with step .01
    assert interpolated_ap(recall, precision, "continuous")[0] == pytest.approx(
        0.01 * (50 + 50 * 2 / 3 - 0.5))


def test_ap_per_class_and_task_metrics():
    tp = np.array([[True] * 10, [False] * 10, [True] * 5 + [False] * 5])
    conf = np.array([0.9, 0.8, 0.7])
    m = TaskMetrics.compute("box", tp, conf, np.array([0, 0, 0]), np.array([0, 0, 2]), nc=3,
                            method="coco")
    # class 0: 2 GT, TP FP TP at the lower thresholds, TP FP FP at the higher ones
    low, high = (51 + 50 * 2 / 3) / 101, 51 / 101
    assert m.result.ap[0, 0] == pytest.approx(low) and m.result.ap[0, 9] == pytest.approx(high)
    assert np.isnan(m.maps[1])  # no GT of class 1
    assert m.result.ap[2].tolist() == [0.0] * 10  # GT of class 2, no predictions
    assert m.map50 == pytest.approx((low + 0) / 2)
    assert m.map == pytest.approx((0.5 * low + 0.5 * high + 0) / 2)
    assert m.map75 == pytest.approx((high + 0) / 2)
    assert set(m.to_dict()) == {"map50-95", "map50", "map75", "precision", "recall"}


def test_max_f1_precision_recall():
    # 4 GT of one class; scores .9 .8 .7 .6 with TP TP FP TP
    tp = np.array([True, True, False, True])[:, None].repeat(10, 1)
    r = ap_per_class(tp, np.array([0.9, 0.8, 0.7, 0.6]), np.zeros(4), np.zeros(4), 1)
    # best F1 is at the last prediction: P 3/4, R 3/4 (F1 .75 vs .667 after two)
    assert r.p[0] == pytest.approx(0.75) and r.r[0] == pytest.approx(0.75)
