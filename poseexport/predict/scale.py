"""Map letterboxed-pixel coordinates back onto the original image."""
from __future__ import annotations

import numpy as np

from .letterbox import LetterboxInfo


def scale_boxes(boxes_xyxy: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """(n, 4) xyxy boxes in letterboxed pixels -> original pixels, clipped to [0, w] x [0, h]."""
    left, top = info.pad
    h, w = info.orig_shape
    out = np.array(boxes_xyxy, dtype=np.float32, copy=True)
    out[:, [0, 2]] = np.clip((out[:, [0, 2]] - left) / info.gain, 0, w)
    out[:, [1, 3]] = np.clip((out[:, [1, 3]] - top) / info.gain, 0, h)
    return out


def scale_keypoints(kpts: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """(n, K, 2 or 3) keypoints in letterboxed pixels -> original pixels, clipped.

    Only x and y change; a third (visibility) channel is copied as is.
    """
    left, top = info.pad
    h, w = info.orig_shape
    out = np.array(kpts, dtype=np.float32, copy=True)
    out[..., 0] = np.clip((out[..., 0] - left) / info.gain, 0, w)
    out[..., 1] = np.clip((out[..., 1] - top) / info.gain, 0, h)
    return out
