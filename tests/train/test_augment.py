"""The augmentation functions on real coco8-pose images and labels: geometry checked by numbers."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from poseexport.data import load_split
from poseexport.errors import UnsupportedOptionError
from poseexport.keypoints import COCO_FLIP_IDX
from poseexport.train.augment import (
    PAD_VALUE,
    AugmentSettings,
    PixelLabels,
    apply_hsv,
    flip_lr,
    flip_ud,
    mosaic4,
    normalise,
    random_affine_matrix,
    random_hsv_gains,
    resize_long_side,
    to_pixels,
    warp,
)

FLIP = np.asarray(COCO_FLIP_IDX)
NO_AUG = AugmentSettings(mosaic=0, translate=0, scale=0, hsv_h=0, hsv_s=0, hsv_v=0, fliplr=0)


@pytest.fixture(scope="module")
def train(data_dir):
    return load_split(data_dir / "coco8-pose" / "coco8-pose.yaml", "train", cache=False, progress=False)


def _image_and_labels(sample) -> tuple[np.ndarray, PixelLabels]:
    image = cv2.imread(str(sample.image))
    h, w = image.shape[:2]
    lab = sample.labels
    return image, to_pixels(lab.cls, lab.boxes, lab.keypoints, (w, h))


def test_pixels_and_back_round_trip(train):
    for sample in train.samples:
        h, w = sample.shape
        px = to_pixels(sample.labels.cls, sample.labels.boxes, sample.labels.keypoints, (w, h))
        cls, boxes, kpts = normalise(px, w, h, 3)
        np.testing.assert_allclose(boxes, sample.labels.boxes, atol=1e-6)
        np.testing.assert_allclose(kpts, sample.labels.keypoints, atol=1e-6)  # invisible ones are 0 0 0
        np.testing.assert_array_equal(cls[:, 0], sample.labels.cls)


def test_flip_lr_swaps_left_right_and_twice_is_identity(train):
    image, labels = _image_and_labels(train.samples[0])  # one person, shoulders 5/6 visible
    w = image.shape[1]
    flipped_img, flipped = flip_lr(image, labels, FLIP)
    kp, fk = labels.keypoints[0], flipped.keypoints[0]
    # The new left shoulder (5) is the old right shoulder (6), mirrored: x -> w - x.
    for left, right in ((5, 6), (9, 10), (15, 16), (1, 2)):
        assert fk[left, 0] == pytest.approx(w - kp[right, 0])
        assert fk[left, 1] == pytest.approx(kp[right, 1])
        assert fk[left, 2] == kp[right, 2] and fk[right, 2] == kp[left, 2]
    assert fk[0, 0] == pytest.approx(w - kp[0, 0])  # the nose stays the nose
    np.testing.assert_allclose(flipped.boxes[0], [w - labels.boxes[0, 2], labels.boxes[0, 1],
                                                  w - labels.boxes[0, 0], labels.boxes[0, 3]], atol=1e-4)
    np.testing.assert_array_equal(flipped_img[:, 0], image[:, -1])
    back_img, back = flip_lr(flipped_img, flipped, FLIP)
    np.testing.assert_array_equal(back_img, image)
    np.testing.assert_allclose(back.keypoints, labels.keypoints, atol=1e-4)
    np.testing.assert_allclose(back.boxes, labels.boxes, atol=1e-4)


def test_flip_ud_mirrors_y_swaps_sides_and_twice_is_identity(train):
    image, labels = _image_and_labels(train.samples[2])  # three persons
    h = image.shape[0]
    flipped_img, flipped = flip_ud(image, labels, FLIP)
    np.testing.assert_allclose(flipped.keypoints[:, 5, 1], h - labels.keypoints[:, 6, 1], atol=1e-4)
    np.testing.assert_allclose(flipped.keypoints[:, 5, 0], labels.keypoints[:, 6, 0], atol=1e-4)
    np.testing.assert_array_equal(flipped_img[0], image[-1])
    back_img, back = flip_ud(flipped_img, flipped, FLIP)
    np.testing.assert_array_equal(back_img, image)
    np.testing.assert_allclose(back.keypoints, labels.keypoints, atol=1e-4)


def test_affine_with_identity_settings_is_a_no_op(train):
    image, labels = _image_and_labels(train.samples[0])
    square = cv2.resize(image, (320, 320))
    labels = to_pixels(train.samples[0].labels.cls, train.samples[0].labels.boxes,
                       train.samples[0].labels.keypoints, (320, 320))
    settings = replace(NO_AUG, degrees=0, shear=0, perspective=0)
    matrix, gain = random_affine_matrix(np.random.default_rng(3), settings, (320, 320), 320)
    np.testing.assert_allclose(matrix, np.eye(3), atol=1e-12)
    out_img, out = warp(square, labels, matrix, 320, gain)
    np.testing.assert_array_equal(out_img, square)
    np.testing.assert_array_equal(out.keypoints, labels.keypoints)
    np.testing.assert_array_equal(out.boxes, labels.boxes)


def test_translate_pushes_keypoints_out_and_they_become_invisible(train):
    image, labels = _image_and_labels(train.samples[2])  # 500 x 375, three persons
    size = 500
    shift = 0.6 * size
    matrix = np.eye(3)
    matrix[0, 2] = shift
    out_img, out = warp(image, labels, matrix, size)
    # The left-most person (the third, box centre x ~ 0.147 w) stays; those at ~0.54 and 0.74 leave.
    assert len(out) == 1
    before = labels.keypoints[2]
    after = out.keypoints[0]
    visible_before = before[:, 2] > 0
    inside = before[:, 0] + shift <= size
    np.testing.assert_array_equal(after[:, 2] > 0, visible_before & inside)
    np.testing.assert_allclose(after[visible_before & inside, 0], before[visible_before & inside, 0] + shift,
                               atol=1e-3)
    assert (out.boxes[:, 2] <= size).all()
    assert out_img[10, int(shift) - 2].tolist() == [PAD_VALUE] * 3  # uncovered area is padding
    # Push that person half out: its keypoints past the edge are invisible and, normalised, zeroed.
    box = labels.boxes[2]
    matrix[0, 2] = size - box[0] - 0.5 * (box[2] - box[0])
    _, half = warp(image, labels.select(np.array([False, False, True])), matrix, size)
    assert len(half) == 1
    _, _, kpts = normalise(half, size, size, 3)
    gone = visible_before & (before[:, 0] + matrix[0, 2] > size)
    stays = visible_before & ~gone
    assert gone.sum() >= 1 and stays.sum() >= 1
    np.testing.assert_array_equal(kpts[0, gone], 0.0)
    np.testing.assert_array_equal(kpts[0, stays, 2], before[stays, 2])


def test_random_affine_moves_labels_with_the_pixels():
    # A grey image with one white dot per keypoint: after rotation, shear, scale, translation and
    # perspective, each transformed keypoint must sit on its (moved) dot.
    rng = np.random.default_rng(0)
    image = np.full((400, 400, 3), 50, np.uint8)
    points = rng.uniform(140, 260, (5, 2)).astype(np.float32)
    for x, y in points:
        cv2.circle(image, (round(float(x)), round(float(y))), 3, (255, 255, 255), -1)
    kpts = np.concatenate([points, np.full((5, 1), 2, np.float32)], 1)[None]
    labels = PixelLabels(np.zeros(1, np.float32), np.array([[120, 120, 280, 280]], np.float32), kpts)
    settings = AugmentSettings(degrees=30, translate=0.1, scale=0.3, shear=10, perspective=0.0005)
    matrix, gain = random_affine_matrix(np.random.default_rng(7), settings, (400, 400), 320)
    assert np.abs(matrix[2, :2]).min() > 1e-5  # a real perspective: points divide by w != 1
    out_img, out = warp(image, labels, matrix, 320, gain)
    assert out_img.shape == (320, 320, 3) and len(out) == 1
    for x, y, v in out.keypoints[0]:
        assert v == 2
        patch = out_img[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2, 0]
        assert patch.max() > 200, (x, y)  # on the dot, not on the grey background


def test_tiny_and_degenerate_boxes_are_dropped_with_their_keypoints():
    image = np.zeros((100, 100, 3), np.uint8)
    kpts = np.zeros((3, 2, 3), np.float32)
    kpts[..., 2] = 2
    boxes = np.array([[10, 10, 60, 60], [70, 70, 71.5, 90], [20, 80, 90, 80.5]], np.float32)
    kpts[:, :, :2] = boxes[:, None, :2]
    labels = PixelLabels(np.array([0, 1, 2], np.float32), boxes, kpts)
    _, out = warp(image, labels, np.eye(3), 100)
    np.testing.assert_array_equal(out.cls, [0])  # 1.5 px wide and 0.5 px high boxes go
    assert out.keypoints.shape == (1, 2, 3)


def test_mosaic_has_labels_of_all_four_images_inside_the_canvas(train):
    size = 320
    images, labels = [], []
    for i, sample in enumerate(train.samples):
        image = resize_long_side(cv2.imread(str(sample.image)), size)
        h, w = image.shape[:2]
        lab = sample.labels
        images.append(image)
        labels.append(to_pixels(np.full(len(lab), i), lab.boxes, lab.keypoints, (w, h)))  # cls = tile
    canvas, merged = mosaic4(images, labels, size, (size, size))
    assert canvas.shape == (2 * size, 2 * size, 3)
    assert set(merged.cls.astype(int).tolist()) == {0, 1, 2, 3}
    assert ((merged.boxes >= 0) & (merged.boxes <= 2 * size)).all()
    vis = merged.keypoints[..., 2] > 0
    assert ((merged.keypoints[vis][:, :2] >= 0) & (merged.keypoints[vis][:, :2] <= 2 * size)).all()
    # Centred mosaic: tile 0 ends at the centre, tile 3 starts there; each pixel under a
    # keypoint is the source pixel under the original keypoint.
    offsets = {0: (size - images[0].shape[1], size - images[0].shape[0]), 3: (size, size)}
    for tile, (dx, dy) in offsets.items():
        mine = merged.keypoints[merged.cls == tile]
        src = labels[tile].keypoints
        for (x, y, v), (sx, sy, _) in zip(mine.reshape(-1, 3), src.reshape(-1, 3)):
            if v > 0 and x < 2 * size and y < 2 * size:
                assert x == pytest.approx(sx + dx) and y == pytest.approx(sy + dy)
                assert (canvas[int(y), int(x)] == images[tile][int(sy), int(sx)]).all()


def test_mosaic_off_centre_crops_tiles_and_hides_what_leaves_the_canvas(train):
    size = 320
    image = resize_long_side(cv2.imread(str(train.samples[0].image)), size)  # 320 x 241, person fills it
    h, w = image.shape[:2]
    lab = train.samples[0].labels
    px = to_pixels(lab.cls, lab.boxes, lab.keypoints, (w, h))
    # Centre at (100, 100): tile 0 loses its left 141 px and top 220 px.
    _, merged = mosaic4([image] * 4, [px] * 4, size, (100, 100))
    first = merged.keypoints[0]
    expect_visible = (px.keypoints[0, :, 2] > 0) & (px.keypoints[0, :, 0] >= w - 100) & \
        (px.keypoints[0, :, 1] >= h - 100)
    np.testing.assert_array_equal(first[:, 2] > 0, expect_visible)


def test_hsv_keeps_shape_and_changes_value_by_the_drawn_gain(train):
    image = cv2.imread(str(train.samples[0].image))
    assert apply_hsv(image, np.zeros(3)) is image  # no gain: untouched
    out = apply_hsv(image, np.array([0.0, 0.0, 0.3]))
    assert out.shape == image.shape and out.dtype == np.uint8
    # Value = max(B, G, R) is scaled by exactly the gain (then truncated to 8 bits).
    np.testing.assert_array_equal(out.max(2), np.clip(np.floor(image.max(2) * 1.3), 0, 255).astype(np.uint8))
    hue = apply_hsv(image, np.array([0.015, 0.0, 0.0]))
    np.testing.assert_array_equal(hue.max(2), image.max(2))  # a hue shift keeps the value
    diff = np.abs(hue.astype(int) - image.astype(int))
    assert 0 < diff.mean() < 4 and diff.max() <= 40
    gains = random_hsv_gains(np.random.default_rng(1), AugmentSettings())
    assert abs(gains[0]) <= 0.015 and abs(gains[1]) <= 0.7 and abs(gains[2]) <= 0.4


@pytest.mark.parametrize("field, value", [("fliplr", 1.5), ("mosaic", -0.1), ("scale", 1.0),
                                          ("degrees", float("nan")), ("hsv_v", -0.2)])
def test_settings_out_of_range_are_refused(field, value):
    with pytest.raises(UnsupportedOptionError, match=field):
        AugmentSettings(**{field: value})
