"""The COCO-17 keypoint layout (names, limbs, left/right flips), shared by drawing and metadata."""
from __future__ import annotations

COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO_FLIP_IDX: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
# The 19 COCO limbs, 1-based, exactly as in the COCO keypoint annotation file.
COCO_SKELETON_1BASED: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)
COCO_SKELETON: tuple[tuple[int, int], ...] = tuple((a - 1, b - 1) for a, b in COCO_SKELETON_1BASED)


def default_keypoint_facts(kpt_shape: tuple[int, int]):
    """(names, skeleton, flip_idx) for COCO-17, generic ones for other layouts."""
    k = kpt_shape[0]
    if k == 17:
        return COCO_KEYPOINT_NAMES, COCO_SKELETON, COCO_FLIP_IDX
    return tuple(f"kpt{i}" for i in range(k)), (), tuple(range(k))
