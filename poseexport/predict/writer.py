"""Write annotated predictions: one image per picture, one video per video source."""
from __future__ import annotations

from pathlib import Path

import cv2

from ..errors import BadInputError
from .results import Results


class AnnotatedWriter:
    """Saves `Results.plot()` under a folder; frames named `clip.mp4#frame3` join `clip.mp4`."""

    def __init__(self, folder: Path, fps: float = 30.0):
        self.folder = folder
        self.fps = fps
        self._videos: dict[str, cv2.VideoWriter] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, result: Results) -> Path:
        name, _, frame = result.path.partition("#frame")
        base = Path(name).name or "image"
        if not frame:
            target = self.folder / (base if Path(base).suffix else f"{base}.jpg")
            return result.save(target)
        target = self.folder / f"{Path(base).stem}.mp4"
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
        writer.write(image)
        return target

    def close(self) -> None:
        for writer in self._videos.values():
            writer.release()
        self._videos.clear()
