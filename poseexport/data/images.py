"""Find a split's images, pair each with its label file, and check it decodes."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadDatasetError
from ..predict.sources import IMAGE_SUFFIXES


def list_images(sources: tuple[Path, ...]) -> list[Path]:
    """Image files of folders (recursive), .txt lists (one path a line) and files, sorted, unique.

    Relative lines of a .txt list are resolved against the list file's folder.
    """
    found: list[Path] = []
    for source in sources:
        if source.is_dir():
            found += [p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        elif source.suffix.lower() == ".txt":
            found += _read_list(source)
        elif source.suffix.lower() in IMAGE_SUFFIXES:
            found.append(source)
        else:
            raise BadDatasetError(f"Cannot read images from {source}",
                                  "a split entry must be a folder, a .txt list of images, or an image",
                                  "point the yaml at the images folder")
    images = sorted({p.resolve() for p in found})
    if not images:
        raise BadDatasetError("The split contains no images",
                              f"nothing with an image extension under {', '.join(map(str, sources))}",
                              "check the yaml paths", context=[" ".join(sorted(IMAGE_SUFFIXES))])
    return images


def _read_list(list_file: Path) -> list[Path]:
    out = []
    for line in list_file.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(line).expanduser()
            out.append(path if path.is_absolute() else list_file.parent / path)
    return out


def label_path_for(image: Path) -> Path:
    """`.../images/.../x.jpg` -> `.../labels/.../x.txt` (the LAST 'images' folder is replaced).

    An image with no 'images' folder in its path has its label next to it.
    """
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def image_shape(path: Path) -> tuple[int, int]:
    """(h, w) of an image as `cv2.imread` would return it; raises ValueError if it cannot decode.

    The whole image is decoded, so truncated files are caught too (the result is cached).
    """
    data = np.fromfile(path, dtype=np.uint8) if os.path.getsize(path) else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError("the image cannot be decoded (empty, truncated or not an image)")
    return int(image.shape[0]), int(image.shape[1])
