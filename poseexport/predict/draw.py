"""Draw detections: labelled boxes, keypoints and skeleton limbs (OpenCV, BGR)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from ..keypoints import COCO_SKELETON

Color = tuple[int, int, int]  # BGR

FACE: Color = (255, 190, 30)  # sky blue
ARM: Color = (0, 150, 255)  # orange
LEG: Color = (200, 60, 200)  # purple
TORSO: Color = (90, 200, 60)  # green
BOX: Color = (60, 60, 235)  # red

# Per limb of COCO_SKELETON: legs, hips + torso sides + shoulders, arms, face.
COCO_LIMB_COLORS: tuple[Color, ...] = (LEG,) * 4 + (TORSO,) * 4 + (ARM,) * 4 + (FACE,) * 7
# Per keypoint: nose, eyes, ears; shoulders, elbows, wrists; hips, knees, ankles.
COCO_KPT_COLORS: tuple[Color, ...] = (FACE,) * 5 + (ARM,) * 6 + (LEG,) * 6


def default_line_width(shape: tuple[int, ...]) -> int:
    """Line width that grows with the image: about 0.3 % of its mean side, at least 2."""
    return max(round((shape[0] + shape[1]) / 2 * 0.003), 2)


def draw_box(image: np.ndarray, xyxy: Sequence[float], label: str, color: Color, lw: int) -> None:
    """Draw one box with a filled label tag above it (inside it at the top edge), in place."""
    x1, y1, x2, y2 = (int(round(v)) for v in xyxy)
    cv2.rectangle(image, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
    if not label:
        return
    scale, thick = lw / 3, max(lw - 1, 1)
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    above = y1 - th - base - 3 >= 0
    top = y1 - th - base - 3 if above else y1
    x1 = max(min(x1, image.shape[1] - tw - 2), 0)  # keep the tag readable at the right edge
    cv2.rectangle(image, (x1, top), (x1 + tw + 2, top + th + base + 3), color, -1, cv2.LINE_AA)
    cv2.putText(image, label, (x1 + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), thick, cv2.LINE_AA)


def draw_pose(image: np.ndarray, kpts: np.ndarray, skeleton: Sequence[tuple[int, int]],
              kpt_threshold: float, lw: int, limb_colors: Sequence[Color] | None = None,
              kpt_colors: Sequence[Color] | None = None) -> None:
    """Draw one person's keypoints (K, 2 or 3) and limbs (0-based pairs), in place.

    A keypoint whose confidence is below `kpt_threshold` is not drawn, nor any limb
    touching it. Keypoints without a confidence channel are always drawn.
    """
    k = len(kpts)
    visible = np.isfinite(kpts[:, :2]).all(1)
    if kpts.shape[1] >= 3:
        visible &= kpts[:, 2] >= kpt_threshold
    points = [(int(round(x)), int(round(y))) if v else None
              for (x, y), v in zip(kpts[:, :2].tolist(), visible)]
    for i, (a, b) in enumerate(skeleton):
        if a < k and b < k and points[a] and points[b]:
            color = limb_colors[i] if limb_colors else TORSO
            cv2.line(image, points[a], points[b], color, lw, cv2.LINE_AA)
    radius = lw + 2
    for i, point in enumerate(points):
        if point:
            color = kpt_colors[i] if kpt_colors else TORSO
            cv2.circle(image, point, radius, color, -1, cv2.LINE_AA)


def draw_detections(image: np.ndarray, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                    names: Mapping[int, str], keypoints: np.ndarray | None = None,
                    kpt_threshold: float = 0.5, line_width: int | None = None,
                    skeleton: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """An annotated copy of `image`: boxes labelled "name 0.87", then poses on top.

    With 17 keypoints the COCO skeleton and palette are used; other layouts get
    points only unless a 0-based `skeleton` is given.
    """
    out = image.copy()
    lw = line_width or default_line_width(out.shape)
    for xyxy, score, cls in zip(boxes, scores, classes):
        label = f"{names.get(int(cls), str(int(cls)))} {float(score):.2f}"
        draw_box(out, xyxy, label, BOX, lw)
    if keypoints is None or len(keypoints) == 0:
        return out
    coco = keypoints.shape[1] == 17 and skeleton is None
    limbs = COCO_SKELETON if coco else (skeleton or ())
    for person in keypoints:
        draw_pose(out, person, limbs, kpt_threshold, lw,
                  COCO_LIMB_COLORS if coco else None, COCO_KPT_COLORS if coco else None)
    return out
