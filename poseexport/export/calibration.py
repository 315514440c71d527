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
    return _find_calibration(data)[0]


def _find_calibration(data: str) -> tuple[list[Path], list[str]]:
    """(image files, where it looked: one line per folder, saying what was there)."""
    path = Path(data)
    suffixes = " ".join(sorted(IMAGE_SUFFIXES))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        return files, [f"{path.resolve()} (not recursive; {suffixes}): {len(files)} image(s)"]
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            cfg = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise BadDatasetError(f"The calibration yaml {path} is not valid YAML", str(err).strip(),
                                  "fix its syntax, or pass --data with a folder of images") from err
        if not isinstance(cfg, dict):
            raise BadDatasetError(f"The calibration yaml {path} is not a dataset yaml",
                                  f"it holds a {type(cfg).__name__}", "pass a dataset yaml or a folder of images")
        root = (path.parent / str(cfg.get("path") or ".")).resolve()
        key = "train" if cfg.get("train") else "val"
        split = cfg.get(key)
        entries = split if isinstance(split, list) else [split]
        files: list[Path] = []
        looked = [] if split else [f"{path}: no 'train' or 'val' entry"]
        for entry in filter(None, entries):
            folder = (root / str(entry)).resolve()
            if folder.is_dir():
                found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
                files += found
                looked.append(f"{folder} ('{key}' of {path.name}, recursive): {len(found)} image(s)")
            else:
                looked.append(f"{folder} ('{key}' of {path.name}): does not exist")
        return files, looked
    why = "no file or folder has that path" if not path.exists() else \
        "it is neither a folder of images nor a dataset yaml (.yaml)"
    raise BadDatasetError(f"Calibration data '{data}' cannot be used", why,
                          "pass --data with a folder of images or a dataset yaml")


def load_calibration(options: ExportOptions, stride: int, seed: int = 0) -> CalibrationSet:
    files, looked = _find_calibration(str(options.data))
    if not files:
        raise BadDatasetError(f"No calibration images were found in {options.data}",
                              "INT8 scales are measured on real images, and none is there",
                              "pass --data with a folder of images or a dataset yaml whose train/val "
                              "split holds images (for example ../shared/data/calib-people)",
                              context=["looked in: " + line for line in looked])
    if options.fraction < 1.0:
        count = max(1, round(len(files) * options.fraction))
        files = sorted(random.Random(seed).sample(files, count))
    if len(files) < MIN_CALIBRATION_IMAGES and not options.force:
        raise UnsupportedOptionError(
            f"Only {len(files)} calibration image(s) found in {options.data}",
            f"INT8 scales measured on fewer than {MIN_CALIBRATION_IMAGES} images are unreliable",
            "pass a larger --data set, or --force to accept it anyway",
            context=["looked in: " + line for line in looked])
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
