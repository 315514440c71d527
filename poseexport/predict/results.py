"""Per-image prediction results, and the post-processing that builds them."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from .draw import draw_detections
from .letterbox import LetterboxInfo
from .nms import non_max_suppression
from .scale import scale_boxes, scale_keypoints


@dataclass(frozen=True, eq=False)
class Boxes:
    """Detected boxes in original-image pixels."""

    xyxy: np.ndarray  # (n, 4) x1, y1, x2, y2
    conf: np.ndarray  # (n,)
    cls: np.ndarray  # (n,) class index as float

    @property
    def xywh(self) -> np.ndarray:
        """(n, 4) centre x, centre y, width, height."""
        x1, y1, x2, y2 = self.xyxy.T
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=1)

    def __len__(self) -> int:
        return len(self.xyxy)


@dataclass(frozen=True, eq=False)
class Keypoints:
    """Keypoints in original-image pixels; `data` is (n, K, 2) or (n, K, 3) with visibility."""

    data: np.ndarray
    orig_shape: tuple[int, int]  # (h, w), for the normalised view

    @property
    def xy(self) -> np.ndarray:
        """(n, K, 2) pixel coordinates."""
        return self.data[..., :2]

    @property
    def xyn(self) -> np.ndarray:
        """(n, K, 2) coordinates divided by the original width and height."""
        h, w = self.orig_shape
        return self.xy / np.array([w, h], dtype=np.float32)

    @property
    def conf(self) -> np.ndarray | None:
        """(n, K) visibility scores, or None when the layout has no visibility channel."""
        return self.data[..., 2] if self.data.shape[-1] >= 3 else None

    def __len__(self) -> int:
        return len(self.data)


class Results:
    """What one image produced: boxes, keypoints, timings, and helpers to export or draw them."""

    def __init__(self, orig_img: np.ndarray, path: str, names: Mapping[int, str], boxes: Boxes,
                 keypoints: Keypoints, speed: Mapping[str, float | None] | None = None,
                 error: str | None = None):
        self.orig_img = orig_img
        self.path = path
        self.names = dict(names)
        self.boxes = boxes
        self.keypoints = keypoints
        self.speed: dict[str, float | None] = {"preprocess": None, "inference": None,
                                               "postprocess": None, **(speed or {})}
        self.error = error  # why this file could not be read (then there are no detections)

    @staticmethod
    def failed(path: str, error: str, names: Mapping[int, str], kpt_shape: tuple[int, int]) -> Results:
        """The place of a file that could not be read: no detections, and `error` says why."""
        k, d = kpt_shape
        return Results(np.zeros((0, 0, 3), np.uint8), path, names,
                       Boxes(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32)),
                       Keypoints(np.zeros((0, k, d), np.float32), (0, 0)), error=error)

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        if self.error:
            return f"Results({self.path!r}, error: {self.error.splitlines()[0]})"
        h, w = self.orig_img.shape[:2]
        k, d = self.keypoints.data.shape[1:] if self.keypoints.data.ndim == 3 else (0, 0)
        best = f", best score {float(self.boxes.conf.max()):.2f}" if len(self) else ""
        return (f"Results({self.path!r}, {w}x{h}, {len(self)} detection(s){best}, "
                f"keypoints {k}x{d})")

    def to_dict(self) -> dict:
        """Plain-Python view in original pixels: {"image", "persons": [{"box", "score", "keypoints"}]}.

        Each keypoint is [x, y, conf]; for layouts without a visibility channel it
        is just [x, y] (no confidence is invented). A file that could not be read is
        {"image", "error": why, "persons": []}.
        """
        if self.error:
            return {"image": self.path, "error": self.error, "persons": []}
        persons = []
        kpts = self.keypoints.data.astype(float)
        for i in range(len(self)):
            persons.append({
                "box": [float(v) for v in self.boxes.xyxy[i]],
                "score": float(self.boxes.conf[i]),
                "keypoints": kpts[i].tolist(),
            })
        return {"image": self.path, "persons": persons}

    def plot(self, kpt_threshold: float = 0.5, line_width: int | None = None,
             skeleton: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
        """An annotated copy of the original image (BGR); see `draw.draw_detections`."""
        return draw_detections(self.orig_img, self.boxes.xyxy, self.boxes.conf, self.boxes.cls,
                               self.names, self.keypoints.data, kpt_threshold, line_width, skeleton)

    def save(self, path: str | Path, **plot_args) -> Path:
        """Write `plot()` to `path` (parent folders are created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), self.plot(**plot_args)):
            raise BadInputError(f"Could not write the annotated image to {path}",
                                "OpenCV refused to encode or write it",
                                "use an image extension such as .jpg or .png and a writable folder")
        return path


def postprocess(pred: np.ndarray, infos: Sequence[LetterboxInfo], orig_images: Sequence[np.ndarray],
                paths: Sequence[str], names: Mapping[int, str], kpt_shape: tuple[int, int],
                conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                speed: Mapping[str, float] | None = None) -> list[Results]:
    """Raw model output (B, 4 + nc + K*D, N) -> one `Results` per image in original pixels.

    `speed` (ms for preprocess / inference) is copied into each result; the
    postprocess time, per image, is measured here.
    """
    start = time.perf_counter()
    nc, (k, d) = len(names), kpt_shape
    if pred.ndim != 3 or pred.shape[1] != 4 + nc + k * d:
        raise BadInputError(
            f"Prediction of shape {tuple(pred.shape)} does not match the model description",
            f"{len(names)} class(es) and kpt_shape {list(kpt_shape)} need {4 + nc + k * d} channels",
            "check the model's names and kpt_shape metadata against the artifact")
    if not len(pred) == len(infos) == len(orig_images) == len(paths):
        raise BadInputError("Batch sizes differ between prediction and images",
                            f"pred {len(pred)}, infos {len(infos)}, images {len(orig_images)}, "
                            f"paths {len(paths)}", "pass one info, image and path per prediction")
    dets = non_max_suppression(pred, conf=conf, iou=iou, max_det=max_det, nc=nc)
    results = []
    for det, info, image, path in zip(dets, infos, orig_images, paths):
        boxes = Boxes(scale_boxes(det[:, :4], info), det[:, 4].copy(), det[:, 5].copy())
        kpts = scale_keypoints(det[:, 6:].reshape(len(det), k, d), info)
        results.append(Results(image, path, names, boxes, Keypoints(kpts, info.orig_shape),
                               speed))
    per_image = (time.perf_counter() - start) * 1000 / max(len(results), 1)
    for result in results:
        result.speed["postprocess"] = per_image
    return results
