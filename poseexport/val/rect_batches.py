"""Rectangular val batches with extra padding, as the reference YOLO val loader builds them.

`ValOptions(rect=True)` alone letterboxes each batch to its minimal
stride-aligned rectangle (`preprocess(auto=True)`, the predict convention).
With `rect_pad > 0` the batch follows the reference validation loader instead,
which is what its published val numbers are measured with:

1. each image is resized so its long side is `imgsz` (up with INTER_LINEAR,
   down with INTER_AREA; sides rounded up);
2. the batch shape is (1, 1) x imgsz for batches that mix landscape and portrait
   images, else (max h/w, 1) or (1, min w/h) x imgsz, divided by the stride,
   plus `rect_pad`, rounded up, times the stride (rect_pad 0.5 gives every image
   at least half a stride of padding on each side: 640 -> 672);
3. each image is centred in that shape without further scaling (`letterbox`).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..predict.letterbox import LetterboxInfo, letterbox


def batch_shape(shapes: list[tuple[int, int]], imgsz: int, stride: int, pad: float) -> tuple[int, int]:
    """(h, w) of a batch of images with original (h, w) `shapes`."""
    ratios = [h / w for h, w in shapes]
    lo, hi = min(ratios), max(ratios)
    rel = (hi, 1.0) if hi < 1 else (1.0, 1.0 / lo) if lo > 1 else (1.0, 1.0)
    return tuple(int(math.ceil(r * imgsz / stride + pad) * stride) for r in rel)


def rect_batch(images: list[np.ndarray], imgsz: int, stride: int, pad: float
               ) -> tuple[np.ndarray, list[LetterboxInfo]]:
    """Float32 NCHW RGB [0, 1] batch and per-image letterbox info (see the module docstring)."""
    shape = batch_shape([im.shape[:2] for im in images], imgsz, stride, pad)
    boxed, infos = [], []
    for image in images:
        h0, w0 = image.shape[:2]
        r = imgsz / max(h0, w0)
        resized = image
        if r != 1:
            size = (min(math.ceil(w0 * r), imgsz), min(math.ceil(h0 * r), imgsz))
            resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if r > 1 else cv2.INTER_AREA)
        out, info = letterbox(resized, shape, stride=stride, auto=False, scaleup=False)
        gain = info.gain * resized.shape[0] / h0
        boxed.append(out)
        infos.append(LetterboxInfo(orig_shape=(h0, w0), gain=gain, pad=info.pad, shape=info.shape))
    batch = np.ascontiguousarray(np.stack(boxed)[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32)
    batch /= 255.0
    return batch, infos
