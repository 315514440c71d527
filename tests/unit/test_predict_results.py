"""Results built by postprocess from a hand-made raw prediction on the real bus image."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from poseexport.errors import BadInputError
from poseexport.paths import shared_data_dir
from poseexport.predict import (
    COCO_SKELETON,
    Results,
    draw_detections,
    postprocess,
    preprocess,
)

BUS = shared_data_dir() / "images" / "bus.jpg"
NAMES = {0: "person"}


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    return cv2.imread(str(BUS))


def person_pred(d: int = 3) -> np.ndarray:
    """(1, 5 + 17*d, 3): one person (0.87) at letterboxed (300, 320, 100x300), one weak box."""
    k = np.arange(17, dtype=np.float32)
    kx, ky = 270 + 4 * k, 200 + 15 * k
    vis = np.where(k == 16, 0.1, 0.95)  # last keypoint (right ankle) is not visible
    kpts = np.stack([kx, ky, vis][:d], 1).reshape(-1)
    person = np.concatenate([[300, 320, 100, 300, 0.87], kpts])
    weak = np.concatenate([[500, 100, 50, 50, 0.1], np.zeros(17 * d)])
    far = np.concatenate([[100, 100, 10, 10, 0.01], np.zeros(17 * d)])
    return np.stack([person, weak, far], 1)[None].astype(np.float32)


@pytest.fixture(scope="module")
def result(bus) -> Results:
    _, infos = preprocess([bus], 640)
    (res,) = postprocess(person_pred(), infos, [bus], [str(BUS)], NAMES, (17, 3),
                         speed={"preprocess": 1.0, "inference": 2.0})
    return res


def to_orig(x: float, y: float) -> tuple[float, float]:
    # bus: gain 640/1080, pad (80, 0)
    g = 640 / 1080
    return (x - 80) / g, y / g


def test_boxes_and_keypoints_in_original_pixels(result):
    assert len(result) == 1 and len(result.boxes) == 1 and len(result.keypoints) == 1
    x1, y1 = to_orig(250, 170)
    x2, y2 = to_orig(350, 470)
    np.testing.assert_allclose(result.boxes.xyxy, [[x1, y1, x2, y2]], rtol=1e-5)
    np.testing.assert_allclose(result.boxes.xywh, [[(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]],
                               rtol=1e-5)
    np.testing.assert_allclose(result.boxes.conf, [0.87])
    np.testing.assert_array_equal(result.boxes.cls, [0])
    assert result.keypoints.xy.shape == (1, 17, 2)
    np.testing.assert_allclose(result.keypoints.xy[0, 5], to_orig(290, 275), rtol=1e-5)
    np.testing.assert_allclose(result.keypoints.xyn[0, 5], np.divide(to_orig(290, 275), (810, 1080)),
                               rtol=1e-5)
    np.testing.assert_allclose(result.keypoints.conf[0, [0, 16]], [0.95, 0.1], rtol=1e-6)
    assert result.speed["preprocess"] == 1.0 and result.speed["postprocess"] > 0


def test_to_dict_schema_and_values(result):
    d = result.to_dict()
    assert set(d) == {"image", "persons"} and d["image"] == str(BUS)
    (person,) = d["persons"]
    assert set(person) == {"box", "score", "keypoints"}
    assert all(type(v) is float for v in person["box"]) and type(person["score"]) is float
    assert person["score"] == pytest.approx(0.87)
    assert person["box"] == pytest.approx([*to_orig(250, 170), *to_orig(350, 470)], rel=1e-5)
    assert len(person["keypoints"]) == 17 and all(len(k) == 3 for k in person["keypoints"])
    assert person["keypoints"][16] == pytest.approx([*to_orig(334, 440), 0.1], rel=1e-5)
    assert all(type(v) is float for k in person["keypoints"] for v in k)


def test_two_d_keypoints_have_no_conf(bus):
    _, infos = preprocess([bus], 640)
    (res,) = postprocess(person_pred(d=2), infos, [bus], ["bus"], NAMES, (17, 2))
    assert res.keypoints.conf is None
    kp = res.to_dict()["persons"][0]["keypoints"]
    assert len(kp) == 17 and all(len(k) == 2 for k in kp)


def test_plot_draws_the_person_only(result, bus):
    before = bus.copy()
    plotted = result.plot()
    assert plotted.shape == bus.shape
    np.testing.assert_array_equal(bus, before)  # original untouched
    changed = (plotted != bus).any(2)
    x1, y1, x2, y2 = result.boxes.xyxy[0].astype(int)
    assert changed[y1 - 2:y1 + 3, x1 + 10:x2 - 10].all()  # the top edge of the box
    assert not changed[1000:, :].any() and not changed[:, 700:].any()  # far from the person
    # shoulder-to-shoulder limb (keypoints 5 and 6) passes through its midpoint
    a, b = result.keypoints.xy[0, [5, 6]]
    mx, my = ((a + b) / 2).round().astype(int)
    assert changed[my, mx]
    # the right ankle (conf 0.1) is neither drawn nor joined to the right knee
    ax, ay = result.keypoints.xy[0, 16].round().astype(int)
    assert (16, 14) in COCO_SKELETON  # 0-based right ankle - right knee
    assert not changed[ay - 1:ay + 2, ax - 1:ax + 2].any()
    kx, ky = result.keypoints.xy[0, 14]
    assert changed[int(round(ky)), int(round(kx))]  # the knee itself is drawn


def test_save_creates_folders(result, tmp_path):
    path = result.save(tmp_path / "a" / "b" / "bus.png")
    written = cv2.imread(str(path))
    np.testing.assert_array_equal(written, result.plot())


def test_repr_and_empty_result(result, bus):
    assert "1 detection" in repr(result) and "0.87" in repr(result) and "17x3" in repr(result)
    _, infos = preprocess([bus], 640)
    (empty,) = postprocess(person_pred(), infos, [bus], ["bus"], NAMES, (17, 3), conf=0.9)
    assert len(empty) == 0 and empty.to_dict()["persons"] == []
    np.testing.assert_array_equal(empty.plot(), bus)


def test_layout_mismatch_is_a_clear_error(bus):
    _, infos = preprocess([bus], 640)
    with pytest.raises(BadInputError, match="need 56 channels"):
        postprocess(person_pred(d=2), infos, [bus], ["bus"], NAMES, (17, 3))


def test_other_layouts_draw_points_unless_a_skeleton_is_given():
    image = np.zeros((200, 200, 3), np.uint8)
    kpts = np.array([[[20, 100, 0.9], [180, 100, 0.9], [100, 20, 0.9]]], np.float32)
    none = np.zeros((0,), np.float32)
    points = draw_detections(image, np.zeros((0, 4)), none, none, NAMES, kpts, line_width=2)
    limbs = draw_detections(image, np.zeros((0, 4)), none, none, NAMES, kpts, line_width=2,
                            skeleton=[(0, 1)])
    assert points[100, 20].any() and points[20, 100].any()
    assert not points[100, 100].any()  # no limb between keypoints 0 and 1
    assert limbs[100, 100].any() and not limbs[60, 100].any()
