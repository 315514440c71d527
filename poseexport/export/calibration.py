"""INT8 calibration images: a dataset yaml's val split or a folder of images, letterboxed."""
from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np

from ..data.image_files import find_calibration_files
from ..errors import BadDatasetError, UnsupportedOptionError
from ..metadata import Calibration
from ..predict.letterbox import preprocess
from ..predict.sources import read_image
from ..weights import sha256_file
from .context import CalibrationSet
from .options import MIN_CALIBRATION_IMAGES, ExportOptions


def load_calibration(options: ExportOptions, stride: int, seed: int = 0) -> CalibrationSet:
    files, looked = find_calibration_files(str(options.data))
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
