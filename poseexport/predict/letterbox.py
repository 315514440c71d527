"""Letterbox resize (keep aspect ratio, pad with grey) and batch preprocessing.

The arithmetic (gain, rounding, the +-0.1 split of odd padding, pad value 114,
INTER_LINEAR) follows the standard YOLO letterbox exactly, so our inputs are
bit-identical to the reference implementation and outputs stay comparable.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import BadInputError

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxInfo:
    """How one image was letterboxed: enough to map predictions back to it."""

    orig_shape: tuple[int, int]  # (h, w) of the original image
    gain: float  # original pixels * gain = letterboxed pixels
    pad: tuple[int, int]  # (left, top) padding in letterboxed pixels
    shape: tuple[int, int]  # (h, w) of the letterboxed image


def _as_hw(new_shape: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(new_shape, int):
        return new_shape, new_shape
    h, w = new_shape
    return int(h), int(w)


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise BadInputError(f"Cannot letterbox an array of shape {image.shape}",
                            "an HxWxC image with H, W > 0 is expected",
                            "pass a BGR image as returned by cv2.imread")


def _fit(h: int, w: int, new_h: int, new_w: int, scaleup: bool) -> tuple[float, int, int]:
    """Gain and unpadded (h, w) of an image fitted inside (new_h, new_w)."""
    r = min(new_h / h, new_w / w)
    if not scaleup:
        r = min(r, 1.0)
    # Python's round (half to even) on purpose: it is what the reference uses.
    return r, int(round(h * r)), int(round(w * r))


def _auto_shape(unpad_h: int, unpad_w: int, new_h: int, new_w: int, stride: int) -> tuple[int, int]:
    """The smallest stride-aligned rectangle: the padding reduced modulo stride."""
    return unpad_h + (new_h - unpad_h) % stride, unpad_w + (new_w - unpad_w) % stride


def _place(image: np.ndarray, gain: float, unpad_h: int, unpad_w: int, out_h: int, out_w: int,
           pad_value: int) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize to (unpad_h, unpad_w) and pad, centred, to (out_h, out_w)."""
    h, w = image.shape[:2]
    out = image
    if (h, w) != (unpad_h, unpad_w):
        out = cv2.resize(out, (unpad_w, unpad_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (out_w - unpad_w) / 2, (out_h - unpad_h) / 2
    # The -0.1/+0.1 puts the odd pixel of an odd padding at the bottom/right.
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(out, top, bottom, left, right, cv2.BORDER_CONSTANT,
                             value=(pad_value, pad_value, pad_value))
    return out, LetterboxInfo(orig_shape=(h, w), gain=gain, pad=(left, top), shape=out.shape[:2])


def letterbox(image_bgr: np.ndarray, new_shape: int | tuple[int, int] = 640, stride: int = 32,
              auto: bool = False, pad_value: int = PAD_VALUE, scaleup: bool = True
              ) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize `image_bgr` to fit `new_shape` (h, w) keeping its aspect ratio, then pad.

    With `auto=True` the padding is reduced modulo `stride`, giving the smallest
    stride-aligned rectangle instead of the full `new_shape`. With `scaleup=False`
    small images are only padded, never enlarged.
    """
    _check_image(image_bgr)
    new_h, new_w = _as_hw(new_shape)
    r, uh, uw = _fit(*image_bgr.shape[:2], new_h, new_w, scaleup)
    out_h, out_w = _auto_shape(uh, uw, new_h, new_w, stride) if auto else (new_h, new_w)
    return _place(image_bgr, r, uh, uw, out_h, out_w, pad_value)


def preprocess(images: list[np.ndarray], imgsz: int | tuple[int, int] = 640, stride: int = 32,
               auto: bool = False) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """Letterbox BGR uint8 HWC images into one float32 NCHW RGB batch in [0, 1].

    With `auto=True` and images of different shapes, each image gets its own
    minimal stride-aligned rectangle and the batch uses their elementwise maximum
    (one tensor must hold them all): every image keeps exactly the gain it would
    have alone, only its padding grows. (The reference implementation instead
    falls back to the full square `imgsz` for mixed batches.)
    """
    if not images:
        raise BadInputError("Cannot preprocess an empty batch", "no images were given",
                            "pass at least one image")
    new_h, new_w = _as_hw(imgsz)
    fits = []
    for image in images:
        _check_image(image)
        fits.append(_fit(*image.shape[:2], new_h, new_w, scaleup=True))
    out_h, out_w = new_h, new_w
    if auto:
        shapes = [_auto_shape(uh, uw, new_h, new_w, stride) for _, uh, uw in fits]
        out_h, out_w = max(s[0] for s in shapes), max(s[1] for s in shapes)
    boxed, infos = [], []
    for image, (r, uh, uw) in zip(images, fits):
        out, info = _place(image, r, uh, uw, out_h, out_w, PAD_VALUE)
        boxed.append(out)
        infos.append(info)
    batch = np.stack(boxed)[..., ::-1].transpose(0, 3, 1, 2)  # BGR->RGB, NHWC->NCHW
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    batch /= 255.0
    return batch, infos
