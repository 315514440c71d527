"""A picture of a training batch (boxes, keypoints, skeletons) so a user can check the labels."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import PoseExportError
from ..keypoints import COCO_SKELETON
from ..predict.draw import (
    BOX,
    COCO_KPT_COLORS,
    COCO_LIMB_COLORS,
    default_line_width,
    draw_box,
    draw_pose,
)

MAX_SIDE = 1920  # the whole grid is scaled down to fit this many pixels
GRID_LINE = (255, 255, 255)


def plot_training_batch(batch: dict, names: Mapping[int, str], kpt_shape: Sequence[int],
                        skeleton: Sequence[tuple[int, int]] | None, path: str | Path,
                        max_images: int = 16) -> Path:
    """Write the first `max_images` images of a `collate`d batch as one PNG grid and return its path.

    Boxes are labelled with the class name, visible keypoints (v > 0; for 2-value keypoints
    every point not at (0, 0)) are drawn with the `skeleton` (0-based pairs; None: COCO's
    for 17 keypoints, points only otherwise).
    """
    images = batch["img"][:max_images].cpu().numpy()  # (B, 3, H, W) RGB uint8
    b, _, h, w = images.shape
    cols = math.ceil(math.sqrt(b))
    rows = math.ceil(b / cols)
    scale = min(1.0, MAX_SIDE / max(cols * w, rows * h))
    th, tw = round(h * scale), round(w * scale)
    grid = np.full((rows * th, cols * tw, 3), 255, np.uint8)
    k = int(kpt_shape[0])
    coco = k == 17 and skeleton is None
    limbs = COCO_SKELETON if coco else tuple(skeleton or ())
    idx = batch["batch_idx"].cpu().numpy().astype(int)
    cls = batch["cls"].cpu().numpy().reshape(-1).astype(int)
    boxes = batch["bboxes"].cpu().numpy().reshape(-1, 4)
    # explicit D: a batch of background images only has zero keypoints, and -1 cannot be inferred
    kpts = batch["keypoints"].cpu().numpy().reshape(len(cls), k, int(kpt_shape[1]))
    for i in range(b):
        tile = np.ascontiguousarray(images[i].transpose(1, 2, 0)[..., ::-1])  # RGB CHW -> BGR HWC
        if scale != 1.0:
            tile = cv2.resize(tile, (tw, th), interpolation=cv2.INTER_AREA)
        lw = default_line_width(tile.shape)
        mine = idx == i
        for (cx, cy, bw, bh), c in zip(boxes[mine], cls[mine]):
            xyxy = ((cx - bw / 2) * tw, (cy - bh / 2) * th, (cx + bw / 2) * tw, (cy + bh / 2) * th)
            draw_box(tile, xyxy, names.get(int(c), str(int(c))), BOX, lw)
        for person in kpts[mine]:
            draw_pose(tile, _pixels_with_visibility(person, tw, th), limbs, 0.5, lw,
                      COCO_LIMB_COLORS if coco else None, COCO_KPT_COLORS if coco else None)
        _caption(tile, Path(batch["im_file"][i]).name if "im_file" in batch else "", lw)
        r, c = divmod(i, cols)
        grid[r * th:(r + 1) * th, c * tw:(c + 1) * tw] = tile
    for r in range(1, rows):  # thin white lines between the tiles
        grid[r * th - 1:r * th + 1] = GRID_LINE
    for c in range(1, cols):
        grid[:, c * tw - 1:c * tw + 1] = GRID_LINE
    return _write_png(grid, Path(path))


def _pixels_with_visibility(person: np.ndarray, width: int, height: int) -> np.ndarray:
    out = np.zeros((len(person), 3), np.float32)
    out[:, 0], out[:, 1] = person[:, 0] * width, person[:, 1] * height
    if person.shape[1] >= 3:
        out[:, 2] = person[:, 2]
    else:  # no visibility channel: (0, 0) marks a point that is not in the image
        out[:, 2] = np.where((person[:, 0] == 0) & (person[:, 1] == 0), 0.0, 2.0)
    return out


def _caption(tile: np.ndarray, text: str, lw: int) -> None:
    if not text or tile.shape[0] < 96:  # too small to be legible: leave the pixels to the labels
        return
    scale = max(lw / 4, 0.35)
    cv2.putText(tile, text, (4, tile.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                max(lw - 1, 1), cv2.LINE_AA)


def _write_png(image: np.ndarray, path: Path) -> Path:
    path = path if path.suffix else path.with_suffix(".png")
    try:
        ok, data = cv2.imencode(path.suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise PoseExportError(f"Cannot encode the batch picture {path}",
                              f"OpenCV cannot write '{path.suffix}' images", "name the file *.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(data.tobytes())
    except OSError as err:
        raise PoseExportError(f"Cannot write the batch picture {path}", str(err),
                              "choose a writable --project folder") from err
    return path
