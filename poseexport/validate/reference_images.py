"""The real images every export is validated on: five photos shipped with poseexport, plus a few
of the export's own `--data` images when it has some.

The shipped photos (COCO val2017, CC BY 2.0, see reference_images/ATTRIBUTION.md) hold 10
persons that yolo11n-pose finds, small and large, so an installed poseexport compares persons,
keypoints and scores on real people without any test data folder. Never noise: on noise no
anchor is a person and every person-level check would compare nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..predict.sources import read_image

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "reference_images"
PACKAGED_PREFIX = "poseexport/reference_images/"  # how reports name the shipped images
DATA_IMAGES = 4  # --data images added to the packaged ones


def packaged_image_files() -> list[Path]:
    """The shipped reference photos, sorted by name."""
    files = sorted(PACKAGED_DIR.glob("*.jpg"))
    if not files:  # a broken install: say so rather than validate on nothing
        from ..errors import MissingDependencyError

        raise MissingDependencyError(f"poseexport's reference images are missing from {PACKAGED_DIR}",
                              "the package was installed without its package data",
                              "reinstall poseexport from its wheel or source tree")
    return files


def data_image_files(data: str | None, count: int = DATA_IMAGES) -> list[Path]:
    """`count` images of a `--data` folder or dataset yaml, spread evenly over its sorted files
    (deterministic: the same data gives the same images); none when there is no usable data."""
    if not data or not Path(data).exists():
        return []
    from ..data.image_files import calibration_files

    try:
        files = calibration_files(str(data))
    except Exception:  # noqa: BLE001 - not a readable image set: validate on the shipped images only
        return []
    if len(files) <= count:
        return files
    picks = np.linspace(0, len(files) - 1, count).round().astype(int)
    return [files[i] for i in picks]


def reference_images(data: str | None = None) -> tuple[list[str], list[np.ndarray]]:
    """(names, BGR images): the shipped photos, then up to DATA_IMAGES of `data`."""
    files = [(PACKAGED_PREFIX + p.name, p) for p in packaged_image_files()]
    root = Path(data) if data else None
    base = root if root is not None and root.is_dir() else (root.parent if root is not None else None)
    for p in data_image_files(data):
        files.append((f"{base.name}/{p.relative_to(base)}" if base and p.is_relative_to(base) else str(p), p))
    return [name for name, _ in files], [read_image(p) for _, p in files]


__all__ = ["PACKAGED_DIR", "data_image_files", "packaged_image_files", "reference_images"]
