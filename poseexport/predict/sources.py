"""Turn what a user points at (file, folder, glob, video, array, list) into BGR frames.

Everything is resolved and checked when `iter_sources` (or `resolve_sources`) is called, so
a missing file or an empty folder fails before any inference; pixels are read lazily. With
errors="report", a file that cannot be read while iterating (a corrupt image in a folder, a
video with no readable frame) becomes a `BadFrame` in its place and the others still come.
"""
from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Union

import cv2
import numpy as np

from ..errors import BadInputError, PoseExportError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})

Source = Union[str, Path, np.ndarray, list, tuple]


class Frame(NamedTuple):
    """One image to predict on. `frame` is the 0-based frame number for videos, else None."""

    name: str
    image: np.ndarray  # HxWx3 BGR uint8
    frame: int | None = None


class BadFrame(NamedTuple):
    """A file that could not be read (errors="report"): its name and why."""

    name: str
    error: PoseExportError


@dataclass(frozen=True)
class SourcePlan:
    """What a source resolved to: ("image"|"video", Path) and ("array", (name, BGR)) items."""

    items: tuple

    def names(self) -> list[str]:
        """The `Results.path` each item's (first) result will carry."""
        return [item[0] if kind == "array" else f"{item}#frame0" if kind == "video" else str(item)
                for kind, item in self.items]


def _suffixes_help() -> str:
    return "images: " + " ".join(sorted(IMAGE_SUFFIXES)) + "; videos: " + " ".join(sorted(VIDEO_SUFFIXES))


def _array_to_bgr(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype != np.uint8:
        raise BadInputError(f"Cannot use the array {name} as an image",
                            f"its dtype is {array.dtype}, not uint8",
                            "pass an 8-bit image, e.g. (img * 255).clip(0, 255).astype(np.uint8)")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if array.ndim == 3 and array.shape[2] == 3 and array.shape[0] and array.shape[1]:
        return np.ascontiguousarray(array)
    raise BadInputError(f"Cannot use the array {name} as an image",
                        f"its shape is {array.shape}, not HxW, HxWx1, HxWx3 or HxWx4",
                        "pass an HxWx3 BGR uint8 array (as cv2.imread returns)")


def read_image(path: Path) -> np.ndarray:
    """Read an image file as 3-channel BGR (grey, palette and alpha images are converted)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode also handles non-ASCII paths
    except OSError as err:
        raise BadInputError(f"Cannot read {path}", str(err), "check the file's permissions") from err
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise BadInputError(f"Cannot decode the image {path}",
                            "the file is empty, truncated, corrupt, or not really the format its "
                            "extension says", "open it in an image viewer, or re-export/replace it")
    return image


def _iter_video(path: Path) -> Iterator[Frame]:
    _check_video(path)
    capture = cv2.VideoCapture(str(path))
    try:
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            yield Frame(f"{path}#frame{index}", image, index)
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise BadInputError(f"The video {path} has no readable frames",
                            "it is empty, truncated, or uses a codec this OpenCV build cannot decode",
                            "re-encode it, e.g. `ffmpeg -i in -c:v libx264 out.mp4`")


def _check_video(path: Path) -> None:
    capture = cv2.VideoCapture(str(path))
    opened = capture.isOpened()
    capture.release()
    if not opened:
        raise BadInputError(f"Cannot open the video {path}",
                            "OpenCV could not open it: corrupt file or unsupported container/codec",
                            "re-encode it, e.g. `ffmpeg -i in -c:v libx264 out.mp4`, or extract frames")


def _resolve_file(path: Path, check_video: bool = True) -> tuple[str, Path]:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image", path
    if suffix in VIDEO_SUFFIXES:
        if check_video:  # a video named alone is checked now; one of many when it is read
            _check_video(path)
        return "video", path
    raise BadInputError(f"Cannot predict on {path}", f"the extension {path.suffix!r} is not supported",
                        "convert it to a supported format", context=[_suffixes_help()])


def _resolve(source: Source, position: int, out: list, alone: bool = True) -> None:
    """Append ("image"|"video", Path) or ("array", (name, BGR ndarray)) items to `out`."""
    if isinstance(source, SourcePlan):
        out.extend(source.items)
        return
    if isinstance(source, np.ndarray):
        name = f"array{position}"
        out.append(("array", (name, _array_to_bgr(source, name))))
        return
    if isinstance(source, (list, tuple)):
        if not source:
            raise BadInputError("The list of sources is empty", "nothing to predict on",
                                "pass at least one image, folder, video or array")
        for i, item in enumerate(source):
            _resolve(item, i, out, alone=len(source) == 1)
        return
    if not isinstance(source, (str, Path)):
        raise BadInputError(f"Cannot predict on a source of type {type(source).__name__}",
                            "sources are paths, glob patterns, numpy arrays, or lists of these",
                            "pass a file or folder path, or an HxWx3 BGR uint8 array")
    text = str(source)
    path = Path(text).expanduser()
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise BadInputError(f"The folder {path} contains no images",
                                "folders are read non-recursively and only image files are used",
                                "point at a folder with images, or use a glob like 'dir/**/*.jpg'",
                                context=[_suffixes_help()])
        out.extend(("image", p) for p in images)
        return
    if path.is_file():
        out.append(_resolve_file(path, check_video=alone))
        return
    if any(ch in text for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        usable = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
        if not usable:
            why = (f"it matched {len(matches)} path(s), none an image or video" if matches
                   else "it matched no files")
            raise BadInputError(f"The pattern {text!r} gives nothing to predict on", why,
                                "check the pattern and the folder", context=[_suffixes_help()])
        out.extend(_resolve_file(p, check_video=len(usable) == 1) for p in usable)
        return
    fix = "check the path (relative paths start from the current directory)"
    if "://" in text:
        fix = "download the file first; poseexport does not fetch URLs"
    raise BadInputError(f"The source {text!r} does not exist", "no file or folder has that path", fix)


def resolve_sources(source: Source) -> SourcePlan:
    """Resolve and check `source` now (see iter_sources); iterate it later with iter_sources."""
    items: list = []
    _resolve(source, 0, items)
    return SourcePlan(tuple(items))


def iter_sources(source: Source, errors: str = "raise") -> Iterator[Frame | BadFrame]:
    """Frames from a path, folder, glob, video, BGR array (grey converted), list or SourcePlan.

    Paths are checked now (missing, unsupported, empty folder, unopenable single video
    raise `BadInputError` at once); images and video frames are read as you iterate. A
    file that cannot be read then raises (errors="raise") or is yielded as a BadFrame
    (errors="report") so that the other files are still read.
    """
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', not {errors!r}")
    return _frames(resolve_sources(source).items, errors == "report")


def _frames(items: tuple, report: bool) -> Iterator[Frame | BadFrame]:
    for kind, item in items:
        if kind == "array":
            name, array = item
            yield Frame(name, array)
            continue
        try:
            if kind == "image":
                yield Frame(str(item), read_image(item))
            else:
                yield from _iter_video(item)
        except BadInputError as err:
            if not report:
                raise
            yield BadFrame(str(item), err)
