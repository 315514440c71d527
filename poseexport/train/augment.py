"""Training augmentations for pose labels: mosaic, random affine/perspective, HSV, flips.

Pure numpy/OpenCV functions on BGR uint8 images and `PixelLabels` (pixel coordinates).
Every random draw comes from the `np.random.Generator` passed in, so a sample is a
function of (seed, epoch, index) only, whichever worker builds it.

Keypoints always carry a visibility channel here (a dataset with D == 2 gets 2 =
"labelled" for every point on entry). A keypoint that leaves the image gets
visibility 0; `normalise` then zeroes the coordinates of every invisible point, so
"v == 0" and "x == y == 0" go together in what the trainer sees (for D == 2, where
the channel is dropped, (0, 0) is the only mark of a point that left the image).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import UnsupportedOptionError
from ..predict.letterbox import PAD_VALUE

# A transformed box is kept only if it is still a real object: at least 2 px wide and
# high, at least 10 % of its (scaled) area before the transform, aspect ratio < 100.
MIN_BOX_SIDE = 2.0
MIN_AREA_RATIO = 0.1
MAX_ASPECT = 100.0


@dataclass(frozen=True)
class AugmentSettings:
    """Augmentation strengths and probabilities (the usual YOLO defaults)."""

    mosaic: float = 1.0  # probability of a 4-image mosaic
    degrees: float = 0.0  # rotation range, +- degrees
    translate: float = 0.1  # translation range, +- fraction of the image size
    scale: float = 0.5  # scale gain range, 1 +- scale
    shear: float = 0.0  # shear range, +- degrees
    perspective: float = 0.0  # perspective range, +- (0 .. 0.001 is sensible)
    hsv_h: float = 0.015  # hue shift, +- fraction of the hue circle
    hsv_s: float = 0.7  # saturation gain, 1 +- hsv_s
    hsv_v: float = 0.4  # value (brightness) gain, 1 +- hsv_v
    fliplr: float = 0.5  # probability of a horizontal flip
    flipud: float = 0.0  # probability of a vertical flip

    def __post_init__(self) -> None:
        for name in ("mosaic", "fliplr", "flipud", "translate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UnsupportedOptionError(f"Augmentation {name}={value} is out of range",
                                             f"{name} is a probability or fraction in [0, 1]",
                                             f"pass a value between 0 and 1 for {name}")
        for name in ("degrees", "scale", "shear", "perspective", "hsv_h", "hsv_s", "hsv_v"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise UnsupportedOptionError(f"Augmentation {name}={value} is out of range",
                                             f"{name} is a +- range and must be a finite value >= 0",
                                             f"pass e.g. {name}=0 to turn it off")
        if self.scale >= 1.0:
            raise UnsupportedOptionError(f"Augmentation scale={self.scale} is out of range",
                                         "the scale gain is drawn from 1 +- scale and must stay > 0",
                                         "pass a scale below 1 (0.5 is the usual value)")


@dataclass(frozen=True, eq=False)
class PixelLabels:
    """Objects in pixel coordinates: cls (n,), boxes (n, 4) x1 y1 x2 y2, keypoints (n, K, 3) x y v."""

    cls: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.cls)

    def select(self, keep: np.ndarray) -> PixelLabels:
        return PixelLabels(self.cls[keep], self.boxes[keep], self.keypoints[keep])

    @staticmethod
    def concat(parts: list[PixelLabels]) -> PixelLabels:
        return PixelLabels(np.concatenate([p.cls for p in parts]), np.concatenate([p.boxes for p in parts]),
                           np.concatenate([p.keypoints for p in parts]))


def to_pixels(cls: np.ndarray, boxes_cxcywh: np.ndarray, keypoints: np.ndarray,
              size_wh: tuple[float, float], offset_xy: tuple[float, float] = (0.0, 0.0)) -> PixelLabels:
    """Normalised labels of an image drawn as `size_wh` pixels whose top-left is at `offset_xy`."""
    w, h = size_wh
    ox, oy = offset_xy
    n, k = keypoints.shape[:2]
    cx, cy, bw, bh = (boxes_cxcywh[:, i].astype(np.float32) for i in range(4))
    boxes = np.stack([(cx - bw / 2) * w + ox, (cy - bh / 2) * h + oy,
                      (cx + bw / 2) * w + ox, (cy + bh / 2) * h + oy], 1).reshape(n, 4)
    kpts = np.zeros((n, k, 3), np.float32)
    kpts[..., 0] = keypoints[..., 0] * w + ox
    kpts[..., 1] = keypoints[..., 1] * h + oy
    # Without a visibility channel every point is a labelled one.
    kpts[..., 2] = keypoints[..., 2] if keypoints.shape[-1] == 3 else 2.0
    return PixelLabels(cls.astype(np.float32).reshape(n), boxes.astype(np.float32), kpts)


def normalise(labels: PixelLabels, width: int, height: int, kpt_dim: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cls (n, 1), boxes (n, 4) cx cy w h, keypoints (n, K, kpt_dim)) normalised to the image.

    Invisible keypoints get (0, 0); with kpt_dim == 2 the visibility channel is dropped.
    """
    b = labels.boxes
    boxes = np.stack([(b[:, 0] + b[:, 2]) / 2 / width, (b[:, 1] + b[:, 3]) / 2 / height,
                      (b[:, 2] - b[:, 0]) / width, (b[:, 3] - b[:, 1]) / height], 1).reshape(-1, 4)
    kpts = labels.keypoints.copy()
    kpts[..., 0] /= width
    kpts[..., 1] /= height
    kpts[kpts[..., 2] <= 0] = 0.0
    return (labels.cls.reshape(-1, 1).astype(np.float32), boxes.astype(np.float32),
            np.ascontiguousarray(kpts[..., :kpt_dim], dtype=np.float32))


def hide_outside(keypoints: np.ndarray, width: float, height: float) -> None:
    """Visibility 0 for keypoints outside [0, width] x [0, height], in place."""
    x, y = keypoints[..., 0], keypoints[..., 1]
    outside = (x < 0) | (y < 0) | (x > width) | (y > height)
    keypoints[..., 2][outside] = 0.0


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longer side is `size`, keeping the aspect ratio (linear interpolation)."""
    h, w = image.shape[:2]
    r = size / max(h, w)
    if r == 1:
        return image
    new_w, new_h = max(1, round(w * r)), max(1, round(h * r))
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def mosaic4(images: list[np.ndarray], labels: list[PixelLabels], size: int, center_xy: tuple[int, int]
            ) -> tuple[np.ndarray, PixelLabels]:
    """Tile 4 images (labels in their own pixels) around `center_xy` on a (2 size)^2 grey canvas.

    Image 0 goes top-left of the centre, 1 top-right, 2 bottom-left, 3 bottom-right; each
    is cropped where it would leave the canvas. Boxes are clipped to the canvas, boxes
    left with no area are dropped, keypoints off the canvas become invisible.
    """
    s2 = 2 * size
    xc, yc = center_xy
    canvas = np.full((s2, s2, images[0].shape[2]), PAD_VALUE, np.uint8)
    placed = []
    for i, (image, lab) in enumerate(zip(images, labels)):
        h, w = image.shape[:2]
        # Canvas rectangle of this tile, then the matching crop of the image.
        x1 = max(xc - w, 0) if i in (0, 2) else xc
        x2 = xc if i in (0, 2) else min(xc + w, s2)
        y1 = max(yc - h, 0) if i in (0, 1) else yc
        y2 = yc if i in (0, 1) else min(yc + h, s2)
        ix1 = w - (x2 - x1) if i in (0, 2) else 0  # tiles left of the centre lose their left part
        iy1 = h - (y2 - y1) if i in (0, 1) else 0
        canvas[y1:y2, x1:x2] = image[iy1:iy1 + (y2 - y1), ix1:ix1 + (x2 - x1)]
        placed.append(shift(lab, x1 - ix1, y1 - iy1))
    merged = PixelLabels.concat(placed)
    merged.boxes[:] = merged.boxes.clip(0, s2)
    hide_outside(merged.keypoints, s2, s2)
    area = (merged.boxes[:, 2] - merged.boxes[:, 0]) * (merged.boxes[:, 3] - merged.boxes[:, 1])
    return canvas, merged.select(area > 0)


def shift(labels: PixelLabels, dx: float, dy: float) -> PixelLabels:
    """Labels moved by (dx, dy) pixels."""
    boxes = labels.boxes + np.array([dx, dy, dx, dy], np.float32)
    kpts = labels.keypoints.copy()
    kpts[..., 0] += dx
    kpts[..., 1] += dy
    return PixelLabels(labels.cls.copy(), boxes, kpts)


def random_affine_matrix(rng: np.random.Generator, settings: AugmentSettings, in_wh: tuple[int, int],
                         out_size: int) -> tuple[np.ndarray, float]:
    """A 3x3 matrix mapping input pixels to `out_size` output pixels, and its scale gain.

    Order: move the input centre to the origin, perspective, rotate + scale, shear, then
    move the origin to the output centre +- `translate` * `out_size`.
    """
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -in_wh[0] / 2, -in_wh[1] / 2
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = rng.uniform(-settings.perspective, settings.perspective, 2)
    angle = rng.uniform(-settings.degrees, settings.degrees)
    gain = rng.uniform(1 - settings.scale, 1 + settings.scale)
    rot = np.eye(3)
    rot[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=angle, scale=gain)
    shear = np.eye(3)
    shear[0, 1], shear[1, 0] = np.tan(np.radians(rng.uniform(-settings.shear, settings.shear, 2)))
    move = np.eye(3)
    move[0, 2], move[1, 2] = rng.uniform(0.5 - settings.translate, 0.5 + settings.translate, 2) * out_size
    return move @ shear @ rot @ persp @ centre, float(gain)


def warp(image: np.ndarray, labels: PixelLabels, matrix: np.ndarray, out_size: int, gain: float = 1.0
         ) -> tuple[np.ndarray, PixelLabels]:
    """Apply `matrix` (3x3) to the image and labels, output `out_size` square.

    Boxes become the bounding box of their 4 transformed corners, clipped to the image;
    boxes that end up too small, too thin or mostly outside are dropped with their
    keypoints (see MIN_BOX_SIDE, MIN_AREA_RATIO, MAX_ASPECT; `gain` is the scale the
    matrix applies, so the area test compares like with like). Keypoints outside the
    output become invisible.
    """
    identity = np.allclose(matrix, np.eye(3)) and image.shape[:2] == (out_size, out_size)
    if not identity:
        border = (PAD_VALUE,) * 3
        if np.any(matrix[2, :2] != 0):
            image = cv2.warpPerspective(image, matrix, (out_size, out_size), borderValue=border)
        else:
            image = cv2.warpAffine(image, matrix[:2], (out_size, out_size), borderValue=border)
    n = len(labels)
    if n == 0:
        return image, labels
    b = labels.boxes
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], 1).reshape(-1, 2)
    corners = _apply(matrix, corners).reshape(n, 4, 2)
    boxes = np.concatenate([corners.min(1), corners.max(1)], 1).clip(0, out_size).astype(np.float32)
    kpts = labels.keypoints.copy()
    k = kpts.shape[1]
    if k:
        kpts[..., :2] = _apply(matrix, kpts[..., :2].reshape(-1, 2)).reshape(n, k, 2)
        hide_outside(kpts, out_size, out_size)
    keep = _real_boxes(b, boxes, gain)
    return image, PixelLabels(labels.cls.copy(), boxes, kpts).select(keep)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    xyw = np.concatenate([points, np.ones((len(points), 1))], 1) @ matrix.T
    return (xyw[:, :2] / xyw[:, 2:3]).astype(np.float32)


def _real_boxes(before: np.ndarray, after: np.ndarray, gain: float) -> np.ndarray:
    w0, h0 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w1, h1 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w1 / (h1 + 1e-9), h1 / (w1 + 1e-9))
    area_ratio = w1 * h1 / (w0 * h0 * gain * gain + 1e-9)
    return (w1 > MIN_BOX_SIDE) & (h1 > MIN_BOX_SIDE) & (area_ratio > MIN_AREA_RATIO) & (aspect < MAX_ASPECT)


def random_hsv_gains(rng: np.random.Generator, settings: AugmentSettings) -> np.ndarray:
    """(hue shift in fractions of the circle, saturation gain - 1, value gain - 1)."""
    return rng.uniform(-1, 1, 3) * np.array([settings.hsv_h, settings.hsv_s, settings.hsv_v])


def apply_hsv(image: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Shift hue and scale saturation and value of a BGR uint8 image by `gains` (see above)."""
    if not np.any(gains):
        return image
    x = np.arange(256, dtype=np.float64)
    lut_h = np.mod(x + gains[0] * 180, 180)  # OpenCV's 8-bit hue runs 0..179
    lut_s = np.clip(x * (1 + gains[1]), 0, 255)
    lut_s[0] = 0  # grey stays grey
    lut_v = np.clip(x * (1 + gains[2]), 0, 255)
    lut = np.stack([lut_h, lut_s, lut_v], -1).astype(np.uint8).reshape(1, 256, 3)
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return cv2.cvtColor(cv2.LUT(hsv, lut), cv2.COLOR_HSV2BGR)


def flip_lr(image: np.ndarray, labels: PixelLabels, flip_idx: np.ndarray) -> tuple[np.ndarray, PixelLabels]:
    """Mirror left-right; `flip_idx` re-labels each keypoint as its mirrored twin (left <-> right)."""
    w = image.shape[1]
    boxes = labels.boxes[:, [2, 1, 0, 3]] * np.array([-1, 1, -1, 1], np.float32) + np.array([w, 0, w, 0], np.float32)
    kpts = labels.keypoints[:, flip_idx].copy()
    kpts[..., 0] = w - kpts[..., 0]
    return np.ascontiguousarray(image[:, ::-1]), PixelLabels(labels.cls.copy(), boxes, kpts)


def flip_ud(image: np.ndarray, labels: PixelLabels, flip_idx: np.ndarray) -> tuple[np.ndarray, PixelLabels]:
    """Mirror top-bottom. A mirror changes handedness just like a left-right flip (it equals one
    followed by a 180 degree rotation), so left and right keypoints swap here too."""
    h = image.shape[0]
    boxes = labels.boxes[:, [0, 3, 2, 1]] * np.array([1, -1, 1, -1], np.float32) + np.array([0, h, 0, h], np.float32)
    kpts = labels.keypoints[:, flip_idx].copy()
    kpts[..., 1] = h - kpts[..., 1]
    return np.ascontiguousarray(image[::-1]), PixelLabels(labels.cls.copy(), boxes, kpts)
