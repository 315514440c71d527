"""Parse one YOLO-pose label file and report what is wrong with it.

One line per object: `class cx cy w h` then K x (x y [v]), all normalised to the
image (0..1). Policy: a file with ANY malformed line is rejected as a whole (the
image is skipped, every bad line is reported). Evaluating an image with some of
its persons silently dropped would count correct detections as false positives,
and training on it would teach the model to ignore them. Exact duplicate lines
are dropped with a warning; the image is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-6  # labels are written with %.6f: allow that rounding at the borders


@dataclass(frozen=True, eq=False)
class ImageLabels:
    """The objects of one image, normalised: cls (n,), boxes (n, 4) cx cy w h, keypoints (n, K, D)."""

    cls: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray

    def __len__(self) -> int:
        return len(self.cls)

    @staticmethod
    def empty(kpt_shape: tuple[int, int]) -> "ImageLabels":
        k, d = kpt_shape
        return ImageLabels(np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                           np.zeros((0, k, d), np.float32))


@dataclass(frozen=True)
class LabelIssue:
    """One problem found in a dataset; `line` is 1-based, None for whole-file problems."""

    path: str
    line: int | None
    problem: str
    skipped: bool = True  # False for warnings (the image is still used)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.problem}" + ("" if self.skipped else " (warning, image kept)")


def parse_label_text(text: str, kpt_shape: tuple[int, int], nc: int, path: str = "<labels>"
                     ) -> tuple[ImageLabels | None, list[LabelIssue]]:
    """Parse label text. Returns (labels, issues); labels is None when the file is rejected."""
    k, d = kpt_shape
    want = 5 + k * d
    rows, issues, seen = [], [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        problem = _line_problem(fields, want, k, d, nc)
        if problem:
            issues.append(LabelIssue(path, number, problem))
            continue
        key = tuple(fields)
        if key in seen:
            issues.append(LabelIssue(path, number, "duplicate of an earlier line, dropped", skipped=False))
            continue
        seen.add(key)
        rows.append(np.asarray(fields, dtype=np.float64))
    if any(issue.skipped for issue in issues):
        return None, issues
    if not rows:
        return ImageLabels.empty(kpt_shape), issues
    table = np.stack(rows)
    labels = ImageLabels(cls=table[:, 0].astype(np.int64), boxes=table[:, 1:5].astype(np.float32),
                         keypoints=table[:, 5:].reshape(len(table), k, d).astype(np.float32))
    return labels, issues


def _line_problem(fields: list[str], want: int, k: int, d: int, nc: int) -> str | None:
    if len(fields) != want:
        hint = ""
        other = 5 + k * (5 - d)  # the column count the other keypoint dimension would give
        if len(fields) == other:
            hint = f"; this looks like kpt_shape [{k}, {5 - d}] but the yaml says [{k}, {d}]"
        elif len(fields) == 5:
            hint = "; this is a detection label without keypoints"
        return (f"{len(fields)} columns, expected {want} (class, 4 box values, {k} keypoints x {d})"
                + hint)
    try:
        values = np.asarray(fields, dtype=np.float64)
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        return f"'{bad}' is not a number"
    if not np.isfinite(values).all():
        return "contains nan or inf"
    cls = values[0]
    if cls != int(cls) or not 0 <= cls < nc:
        return f"class {fields[0]} is not an integer in [0, {nc - 1}] (the yaml has {nc} name(s))"
    box = values[1:5]
    if (box < -EPS).any() or (box > 1 + EPS).any():
        return f"box {' '.join(fields[1:5])} is outside [0, 1]: coordinates must be normalised"
    if box[2] <= 0 or box[3] <= 0:
        return f"box width/height {fields[3]} {fields[4]} must be > 0"
    kpts = values[5:].reshape(k, d)
    xy = kpts[:, :2]
    if (xy < -EPS).any() or (xy > 1 + EPS).any():
        j = int(np.argmax(((xy < -EPS) | (xy > 1 + EPS)).any(1)))
        return f"keypoint {j} ({kpts[j, 0]:g}, {kpts[j, 1]:g}) is outside [0, 1]: must be normalised"
    if d == 3 and (kpts[:, 2] < 0).any():
        return "a keypoint visibility is negative"
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
