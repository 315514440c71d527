"""INT8 calibration images: a dataset yaml's val split or a folder of images, letterboxed."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import yaml

from ..errors import BadDatasetError, UnsupportedOptionError
from ..metadata import Calibration
from ..predict.letterbox import preprocess
from ..predict.sources import IMAGE_SUFFIXES, read_image
from ..weights import sha256_file
from .context import CalibrationSet
from .options import MIN_CALIBRATION_IMAGES, ExportOptions


def calibration_files(data: str) -> list[Path]:
    """Image files from a folder, or from the train (else val) split of a dataset yaml."""
    path = Path(data)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        cfg = yaml.safe_load(path.read_text()) or {}
        root = (path.parent / str(cfg.get("path") or ".")).resolve()
        split = cfg.get("train") or cfg.get("val")
        entries = split if isinstance(split, list) else [split]
        files: list[Path] = []
        for entry in filter(None, entries):
            folder = (root / str(entry)).resolve()
            if folder.is_dir():
                files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return files
    raise BadDatasetError(f"Calibration data '{data}' cannot be used",
                          "it is neither a folder of images nor a dataset yaml",
                          "pass --data with a folder of images or a dataset yaml")


def load_calibration(options: ExportOptions, stride: int, seed: int = 0) -> CalibrationSet:
    files = calibration_files(str(options.data))
    if options.fraction < 1.0:
        count = max(1, round(len(files) * options.fraction))
        files = sorted(random.Random(seed).sample(files, count))
    if len(files) < MIN_CALIBRATION_IMAGES and not options.force:
        raise UnsupportedOptionError(
            f"Only {len(files)} calibration image(s) found in {options.data}",
            f"INT8 scales measured on fewer than {MIN_CALIBRATION_IMAGES} images are unreliable",
            "pass a larger --data set, or --force to accept it anyway")
    if not files:
        raise BadDatasetError(f"No calibration images in {options.data}", "the folder or split is empty",
                              "pass --data with real images")
    images = np.concatenate([preprocess([read_image(f)], options.imgsz, stride=stride)[0] for f in files])
    info = Calibration(source=str(Path(options.data).resolve()), images=len(files),
                       sha256=digest_images(files), method="")
    return CalibrationSet(images=images, info=info)


def digest_images(paths: list[Path]) -> str:
    """Content hash of a set of image files (order-independent)."""
    h = hashlib.sha256()
    for digest in sorted(sha256_file(p) for p in paths):
        h.update(digest.encode())
    return h.hexdigest()
