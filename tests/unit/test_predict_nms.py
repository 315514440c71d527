"""Greedy NMS on hand-made boxes: exactly which rows survive, and in what order."""
from __future__ import annotations

import numpy as np
import pytest

from poseexport.errors import BadInputError
from poseexport.predict import box_iou, non_max_suppression
from poseexport.predict.nms import nms_indices, xywh_to_xyxy

# cx, cy, w, h, score. IoU(A, B) = 360/440 = 0.818; IoU(A, F) = 0.5; D is far away.
BOXES = {
    "A": (50.0, 50.0, 20.0, 20.0, 0.9),
    "B": (52.0, 50.0, 20.0, 20.0, 0.8),
    "F": (50.0 + 20 / 3, 50.0, 20.0, 20.0, 0.7),
    "D": (200.0, 200.0, 20.0, 20.0, 0.6),
    "E": (400.0, 400.0, 20.0, 20.0, 0.2),  # below the default conf
}
K, D = 2, 3  # two keypoints with visibility: 6 keypoint channels


def make_pred(boxes: dict = BOXES) -> np.ndarray:
    """(1, 4 + 1 + 6, N); keypoint values of anchor i are i*10 + 0..5 to trace them."""
    cols = []
    for i, (cx, cy, w, h, s) in enumerate(boxes.values()):
        cols.append([cx, cy, w, h, s, *(i * 10 + np.arange(K * D))])
    return np.array(cols, np.float32).T[None]


def kept(dets: np.ndarray) -> list[str]:
    names = list(BOXES)
    return [names[int(row[6]) // 10] for row in dets]


def test_box_iou_values():
    a = xywh_to_xyxy(np.array([BOXES["A"][:4]], np.float32))
    b = xywh_to_xyxy(np.array([BOXES[n][:4] for n in "ABFD"], np.float32))
    np.testing.assert_allclose(box_iou(a, b)[0], [1.0, 360 / 440, 0.5, 0.0], rtol=1e-5)
    empty = np.zeros((1, 4), np.float32)
    assert box_iou(empty, empty)[0, 0] == 0.0


def test_keeps_expected_rows_in_score_order():
    (dets,) = non_max_suppression(make_pred(), conf=0.25, iou=0.7)
    assert dets.shape == (3, 6 + K * D)
    assert kept(dets) == ["A", "F", "D"]
    np.testing.assert_allclose(dets[:, 4], [0.9, 0.7, 0.6])
    np.testing.assert_array_equal(dets[:, 5], [0, 0, 0])
    np.testing.assert_allclose(dets[0, :4], [40, 40, 60, 60])
    # keypoints travel with their own box: F is anchor 2, D anchor 3
    np.testing.assert_array_equal(dets[1, 6:], 20 + np.arange(6))
    np.testing.assert_array_equal(dets[2, 6:], 30 + np.arange(6))


@pytest.mark.parametrize("kwargs, expected", [
    ({"max_det": 2}, ["A", "F"]),
    ({"max_det": 1}, ["A"]),
    ({"conf": 0.65}, ["A", "F"]),
    ({"conf": 0.75}, ["A"]),  # B passes conf but A suppresses it
    ({"conf": 0.1}, ["A", "F", "D", "E"]),
    ({"iou": 0.4}, ["A", "D"]),  # now F (IoU 0.5) goes too
    ({"iou": 0.9}, ["A", "B", "F", "D"]),
    ({"max_candidates": 2}, ["A"]),  # only A and B are considered
    ({"conf": 0.95}, []),
])
def test_thresholds_and_limits(kwargs, expected):
    (dets,) = non_max_suppression(make_pred(), **kwargs)
    assert kept(dets) == expected
    assert dets.shape[1] == 6 + K * D


def test_batch_images_are_independent():
    pred = np.concatenate([make_pred(), make_pred()[..., ::-1]])  # same anchors, reversed order
    a, b = non_max_suppression(pred)
    np.testing.assert_array_equal(a, b)


def test_class_aware_option_and_class_column():
    # two classes: A is class 0, B (overlapping) is class 1
    cols = [[50, 50, 20, 20, 0.9, 0.1], [52, 50, 20, 20, 0.05, 0.8]]
    pred = np.array(cols, np.float32).T[None]
    (agnostic,) = non_max_suppression(pred, nc=2)
    assert agnostic.shape == (1, 6) and agnostic[0, 5] == 0
    (aware,) = non_max_suppression(pred, nc=2, agnostic=False)
    np.testing.assert_array_equal(aware[:, 5], [0, 1])
    np.testing.assert_allclose(aware[:, 4], [0.9, 0.8])


def test_greedy_invariants_on_random_boxes():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (300, 2))
    wh = rng.uniform(5, 60, (300, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    keep = nms_indices(boxes, scores, 0.5)
    assert (np.diff(scores[keep]) <= 0).all()
    iou = box_iou(boxes, boxes)
    kept_iou = iou[np.ix_(keep, keep)]
    assert (kept_iou[~np.eye(len(keep), dtype=bool)] <= 0.5).all()
    dropped = np.setdiff1d(np.arange(300), keep)
    for i in dropped:  # each dropped box is explained by a better kept one
        better = keep[scores[keep] >= scores[i]]
        assert (iou[i, better] > 0.5).any()
    np.testing.assert_array_equal(nms_indices(boxes, scores, 0.5, max_keep=7), keep[:7])


def test_bad_shape_is_a_clear_error():
    with pytest.raises(BadInputError, match="Cannot run NMS"):
        non_max_suppression(np.zeros((8400, 56), np.float32))
