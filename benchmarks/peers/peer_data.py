"""Mirror a YOLO pose dataset (or a folder of unlabelled images) for Ultralytics.

Ultralytics resolves a dataset yaml's relative `path:` against the working directory and
writes a `labels.cache` beside the labels it reads (after resolving symlinked folders). To
keep /work/shared/data untouched and both tools on the same images, the mirror is a fresh
folder: each image is a symlink to the original file (files, not folders, so the path
Ultralytics derives labels from stays inside the mirror), labels are copied, and the yaml
carries an absolute `path:`. Standard library + PyYAML only: runs in either environment.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
COCO_FLIP_IDX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _mirror_tree(src: Path, dst: Path) -> int:
    """Symlink images and copy label .txt files from src into dst; returns the image count."""
    count = 0
    for f in sorted(src.rglob("*")):
        if not f.is_file():
            continue
        target = dst / f.relative_to(src)
        if f.suffix.lower() in IMAGE_SUFFIXES:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.symlink_to(f.resolve())
            count += 1
        elif f.suffix == ".txt" and "labels" in f.relative_to(src).parts:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
    return count


def mirror_dataset(source: str | Path, dst: str | Path) -> Path:
    """Mirror `source` (a dataset yaml, or a folder of images) into `dst`; return the new yaml.

    A folder of unlabelled images becomes a one-class 17-keypoint person dataset whose
    train and val splits are those images (what INT8 calibration reads)."""
    source, dst = Path(source), Path(dst).resolve()
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    if source.is_dir():
        n = _mirror_tree(source, dst / "images")
        if n == 0:
            raise SystemExit(f"no images in {source}")
        cfg = {"train": "images", "val": "images", "kpt_shape": [17, 3], "flip_idx": COCO_FLIP_IDX,
               "names": {0: "person"}}
    else:
        cfg = yaml.safe_load(source.read_text())
        root = Path(cfg.get("path") or ".")
        root = root if root.is_absolute() else (source.parent / root)  # our convention: relative to the yaml
        _mirror_tree(root.resolve(), dst)
        cfg = {k: v for k, v in cfg.items() if k not in {"download", "path"}}
    cfg["path"] = str(dst)
    out = dst / f"{source.stem}.yaml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out
