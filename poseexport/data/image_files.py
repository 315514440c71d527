"""The image files of a `--data` argument: a folder of images, or a dataset yaml's train (else
val) split. INT8 calibration (export/calibration.py) and the validation images an export adds
from --data (validate/reference_images.py) both read images this way."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import BadDatasetError
from ..predict.sources import IMAGE_SUFFIXES


def calibration_files(data: str) -> list[Path]:
    """Image files from a folder, or from the train (else val) split of a dataset yaml."""
    return find_calibration_files(data)[0]


def find_calibration_files(data: str) -> tuple[list[Path], list[str]]:
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
