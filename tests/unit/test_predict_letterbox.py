"""Letterbox / preprocess / scale-back geometry, checked with exact numbers."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from poseexport.paths import shared_data_dir
from poseexport.predict import letterbox, preprocess, scale_boxes, scale_keypoints
from poseexport.predict.letterbox import LetterboxInfo


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    return cv2.imread(str(shared_data_dir() / "images" / "bus.jpg"))


@pytest.fixture(scope="module")
def zidane() -> np.ndarray:
    return cv2.imread(str(shared_data_dir() / "images" / "zidane.jpg"))


def test_bus_to_640_square(bus):
    assert bus.shape == (1080, 810, 3)
    out, info = letterbox(bus, 640)
    assert out.shape == (640, 640, 3)
    assert info == LetterboxInfo(orig_shape=(1080, 810), gain=640 / 1080, pad=(80, 0), shape=(640, 640))
    # unpadded 480x640: columns [0, 80) and [560, 640) are pure pad, the image is in between
    assert (out[:, :80] == 114).all() and (out[:, 560:] == 114).all()
    assert not (out[:, 80] == 114).all() and not (out[:, 559] == 114).all()


def test_auto_gives_minimal_rectangle(bus, zidane):
    out, info = letterbox(bus, 640, auto=True)
    assert out.shape[:2] == (640, 480) and info.pad == (0, 0)
    out, info = letterbox(zidane, 640, auto=True)  # 1280x720 -> 640x360, pad 24 -> 12 + 12
    assert out.shape[:2] == (384, 640) and info.pad == (0, 12) and info.gain == 0.5
    assert (out[:12] == 114).all() and (out[-12:] == 114).all()


def test_odd_padding_goes_bottom_and_no_resize_when_size_fits():
    image = np.full((33, 64, 3), 7, np.uint8)
    out, info = letterbox(image, 64)
    assert info.gain == 1.0 and info.pad == (0, 15) and out.shape == (64, 64, 3)
    assert (out[15:48] == 7).all() and (out[:15] == 114).all() and (out[48:] == 114).all()


def test_scaleup_false_only_pads():
    image = np.zeros((50, 100, 3), np.uint8)
    out, info = letterbox(image, 640, scaleup=False)
    assert info.gain == 1.0 and info.pad == (270, 295) and out.shape == (640, 640, 3)


def test_preprocess_layout_and_colour_order():
    blue = np.zeros((20, 40, 3), np.uint8)
    blue[..., 0] = 255  # BGR blue
    batch, infos = preprocess([blue, blue], 64)
    assert batch.shape == (2, 3, 64, 64) and batch.dtype == np.float32
    assert batch.flags.c_contiguous
    assert infos[0].pad == (0, 16)
    inside = batch[0, :, 32, 32]
    np.testing.assert_allclose(inside, [0.0, 0.0, 1.0])  # RGB: blue in channel 2
    np.testing.assert_allclose(batch[0, :, 0, 0], [114 / 255] * 3, rtol=1e-6)


def test_preprocess_mixed_auto_batch_keeps_each_gain(bus, zidane):
    batch, infos = preprocess([bus, zidane], 640, auto=True)
    assert batch.shape == (2, 3, 640, 640)  # max of (640, 480) and (384, 640)
    assert [i.gain for i in infos] == [letterbox(bus, auto=True)[1].gain, 0.5]
    assert infos[1].pad == (0, 140)
    single, (info,) = preprocess([zidane], 640, auto=True)
    assert single.shape == (1, 3, 384, 640) and info.pad == (0, 12)


def test_round_trip_recovers_a_drawn_rectangle():
    image = np.zeros((1080, 810, 3), np.uint8)
    x1, y1, x2, y2 = 123, 456, 700, 1001
    image[y1:y2, x1:x2] = 255
    out, info = letterbox(image, 640)
    ys, xs = np.nonzero(out[..., 0] > 127)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = scale_boxes(found, info)
    np.testing.assert_allclose(back[0], [x1, y1, x2, y2], atol=1.0)


def test_round_trip_of_coordinates(zidane):
    _, info = letterbox(zidane, 640, auto=True)
    boxes = np.array([[10.5, 20.25, 1000.0, 700.0], [0.0, 0.0, 1280.0, 720.0]], np.float32)
    boxed = boxes * info.gain + np.array([*info.pad, *info.pad], np.float32)
    np.testing.assert_allclose(scale_boxes(boxed, info), boxes, atol=1e-3)


def test_scale_clips_and_does_not_mutate():
    info = LetterboxInfo(orig_shape=(100, 200), gain=0.5, pad=(10, 20), shape=(100, 120))
    boxes = np.array([[0.0, 0.0, 200.0, 200.0]], np.float32)
    out = scale_boxes(boxes, info)
    np.testing.assert_array_equal(out, [[0, 0, 200, 100]])
    np.testing.assert_array_equal(boxes, [[0, 0, 200, 200]])
    kpts = np.array([[[5.0, 30.0, 0.3], [60.0, 70.0, 0.9]]], np.float32)
    kout = scale_keypoints(kpts, info)
    np.testing.assert_allclose(kout, [[[0, 20, 0.3], [100, 100, 0.9]]])
    assert kpts[0, 0, 0] == 5.0
    assert scale_keypoints(kpts[..., :2], info).shape == (1, 2, 2)
