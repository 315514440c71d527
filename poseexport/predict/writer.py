"""Write annotated predictions: one image per picture, one video per video source.

The folder is created with the first file written (a run whose only video cannot be read
leaves no empty folder), and nothing that exists is overwritten: `check_targets` refuses,
before any inference, a --save that is a file, or a file name that exists or would be
written twice (two folders' bus.jpg in one glob).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2

from ..errors import BadInputError, UnsupportedOptionError
from .results import Results


def annotated_path(folder: Path, result_path: str) -> Path:
    """Where the annotated output of the result named `result_path` goes ('clip.mp4#frame3' -> clip.mp4)."""
    name, _, frame = result_path.partition("#frame")
    base = Path(name).name or "image"
    if frame:
        return folder / f"{Path(base).stem}.mp4"
    return folder / (base if Path(base).suffix else f"{base}.jpg")


def check_targets(folder: Path, result_paths: list[str]) -> None:
    """Refuse a --save folder that is a file, or outputs that would overwrite or collide."""
    if folder.exists() and not folder.is_dir():
        raise UnsupportedOptionError(f"--save {folder} is an existing file",
                                     "--save names a folder for the annotated images",
                                     "pass a new or empty folder, e.g. --save runs/predict")
    targets = [annotated_path(folder, p) for p in result_paths]
    twice = sorted(str(t) for t, n in Counter(targets).items() if n > 1)
    if twice:
        raise UnsupportedOptionError(f"Two sources would be saved as {twice[0]}",
                                     "annotated files are named after the source file, and these "
                                     "sources share a name", "predict on them in separate runs with "
                                     "separate --save folders", context=[f"collides: {t}" for t in twice[:5]])
    existing = [t for t in targets if t.exists()]
    if existing:
        raise UnsupportedOptionError(
            f"--save {folder} already holds {len(existing)} of the files this run would write",
            "predict never overwrites an existing file",
            "pass a new or empty --save folder, or move those files away",
            context=[f"exists: {t}" for t in existing[:5]] + ([f"… and {len(existing) - 5} more"]
                                                               if len(existing) > 5 else []))


class AnnotatedWriter:
    """Saves `Results.plot()` under a folder; frames named `clip.mp4#frame3` join `clip.mp4`."""

    def __init__(self, folder: Path, fps: float = 30.0):
        self.folder = folder
        self.fps = fps
        self._videos: dict[str, cv2.VideoWriter] = {}
        self.written: list[Path] = []

    def add(self, result: Results) -> Path | None:
        if result.error:  # a file that could not be read has no picture to annotate
            return None
        target = annotated_path(self.folder, result.path)
        self.folder.mkdir(parents=True, exist_ok=True)
        if "#frame" not in result.path:
            self.written.append(result.save(target))
            return target
        image = result.plot()
        writer = self._videos.get(str(target))
        if writer is None:
            h, w = image.shape[:2]
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not writer.isOpened():
                raise BadInputError(f"Cannot write the annotated video {target}",
                                    "OpenCV could not open an mp4 writer",
                                    "check that the folder is writable")
            self._videos[str(target)] = writer
            self.written.append(target)
        writer.write(image)
        return target

    def close(self) -> None:
        for writer in self._videos.values():
            writer.release()
        self._videos.clear()
