"""A JSON cache of a scanned split, next to its labels (or in the user cache).

The key is a sha256 over each image's path and byte size and each label file's
content, plus kpt_shape and nc; any change re-scans. The cache is written next
to the labels folder (`labels.<split>.poseexport-cache.json`) when that folder
is writable (a folder whose mode has no write bit counts as read-only, even for
root), else under `<user cache>/labels/`. It is written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path

from ..paths import user_cache_dir

CACHE_VERSION = 1


def content_key(images: list[Path], labels: list[Path], kpt_shape: tuple[int, int], nc: int) -> str:
    """sha256 of (image path, image size, label bytes or 'missing') for every image, + layout."""
    digest = hashlib.sha256(f"v{CACHE_VERSION} kpt{list(kpt_shape)} nc{nc}\n".encode())
    for image, label in zip(images, labels):
        size = image.stat().st_size if image.exists() else -1
        digest.update(f"{image}\0{size}\0".encode())
        digest.update(label.read_bytes() if label.is_file() else b"\0missing\0")
    return digest.hexdigest()


def cache_path(label_dir: Path, split: str, cache_dir: Path | None = None) -> Path:
    """Where the cache of `split` lives: `cache_dir`, else next to the labels, else the user cache."""
    name = f"{label_dir.name}.{split}.poseexport-cache.json"
    if cache_dir is None and _writable(label_dir.parent):
        return label_dir.parent / name
    tag = hashlib.sha256(str(label_dir).encode()).hexdigest()[:12]  # one folder holds many datasets
    return Path(cache_dir or user_cache_dir() / "labels") / f"{tag}.{name}"


def _writable(folder: Path) -> bool:
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(folder, os.W_OK)


def read_cache(path: Path, key: str) -> dict | None:
    """The cached scan if `path` holds one for `key`, else None (unreadable caches are ignored)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("key") != key:
        return None
    return data


def write_cache(path: Path, key: str, payload: dict) -> str | None:
    """Write atomically; returns None on success, else why it could not be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "key": key, **payload}, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as err:
        return str(err)
    return None
