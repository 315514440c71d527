"""The numpy decoder: raw head maps -> (B, 4 + nc + K*D, N) in letterboxed input pixels.

What the network's in-graph decode (poseexport/nn/head.py) computes, step by step:
1. anchors: the centre (x + 0.5, y + 0.5) of every cell of every level, in that level's strides,
   levels in order of their outputs, cells row by row (N = sum of H * W);
2. box: softmax over the reg_max bins of each side, expected bin index = distance (in strides)
   to the left, top, right and bottom edge; cx, cy, w, h from the two corners, times the stride;
3. class scores: sigmoid of the logits;
4. keypoints: x = (2 * dx + anchor_x - 0.5) * stride (y likewise); visibility: sigmoid.
Everything runs in float32, like the graph, so host and in-graph decode agree to ~1e-4 px.
"""
from __future__ import annotations

import numpy as np

from poseexport.errors import BadArtifactError
from poseexport.metadata import Metadata


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow warning for large logits
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.float32)


def grid_anchors(h: int, w: int) -> np.ndarray:
    """(2, h * w) cell centres in strides, row by row."""
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float32) + 0.5, np.arange(w, dtype=np.float32) + 0.5,
                         indexing="ij")
    return np.stack((gx.ravel(), gy.ravel()))


def decode_level(box: np.ndarray, cls: np.ndarray, kpt: np.ndarray, stride: int,
                 kpt_shape: tuple[int, int], visibility: np.ndarray | None = None) -> np.ndarray:
    """One level's NCHW maps -> (B, 4 + nc + K*D, H * W). `kpt` holds dx, dy per keypoint and
    `visibility` the K visibility logits; without `visibility`, `kpt` holds all K * D values."""
    b, c, h, w = box.shape
    reg_max = c // 4
    anchors = grid_anchors(h, w)  # (2, A)
    logits = box.reshape(b, 4, reg_max, h * w)
    logits = logits - logits.max(axis=2, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=2, keepdims=True)
    dist = np.einsum("bsra,r->bsa", probs, np.arange(reg_max, dtype=np.float32))  # (B, 4, A)
    x1y1 = anchors - dist[:, :2]
    x2y2 = anchors + dist[:, 2:]
    s = np.float32(stride)
    boxes = np.concatenate(((x1y1 + x2y2) / 2, x2y2 - x1y1), axis=1) * s
    k, d = kpt_shape
    if visibility is not None:
        raw = np.concatenate((kpt.reshape(b, k, 2, h * w), visibility.reshape(b, k, 1, h * w)), axis=2)
    else:
        raw = kpt.reshape(b, k, d, h * w)
    xy = (raw[:, :, :2] * np.float32(2.0) + (anchors[None, None] - np.float32(0.5))) * s
    parts = [xy] + ([sigmoid(raw[:, :, 2:3])] if d == 3 else [])
    keypoints = np.concatenate(parts, axis=2).reshape(b, k * d, h * w)
    return np.concatenate((boxes, sigmoid(cls.reshape(b, -1, h * w)), keypoints), axis=1).astype(np.float32)


def decode_head_maps(metadata: Metadata, maps: list[np.ndarray]) -> np.ndarray:
    """Every head output of one inference (float32, in metadata order) -> the raw prediction."""
    specs = metadata.outputs
    levels: dict[int, dict[str, np.ndarray]] = {}
    order: list[int] = []
    for spec, value in zip(specs, maps):
        if spec.layout == "NHWC":
            value = value.transpose(0, 3, 1, 2)
        if spec.stride not in levels:
            levels[spec.stride] = {}
            order.append(spec.stride)
        levels[spec.stride][spec.meaning] = value
    kpt_shape = tuple(metadata.model.kpt_shape)
    decoded = []
    for stride in order:
        parts = levels[stride]
        missing = {"box_distribution", "class_logits", "keypoint_offsets"} - set(parts)
        if kpt_shape[1] == 3 and "keypoint_visibility" not in parts and "keypoint_offsets" in parts \
                and _channels(parts["keypoint_offsets"]) != kpt_shape[0] * 3:
            missing.add("keypoint_visibility")
        if missing:
            raise BadArtifactError(f"The host-decode artifact lacks the {', '.join(sorted(missing))} output "
                                   f"of stride {stride}", "its metadata lists an incomplete head",
                                   "re-export it with poseexport convert --decode host")
        decoded.append(decode_level(parts["box_distribution"], parts["class_logits"],
                                    parts["keypoint_offsets"], stride, kpt_shape, parts.get("keypoint_visibility")))
    return np.concatenate(decoded, axis=2)


def _channels(value: np.ndarray) -> int:
    return int(value.shape[1])  # maps are NCHW here (NHWC ones were transposed above)
