"""Read and check a YOLO-pose dataset yaml.

    path: .            # dataset root, relative to THIS yaml file (absent or empty: the yaml's folder)
    train: images/train  # a folder, a .txt list of image paths, or a list of these
    val: images/val
    kpt_shape: [17, 3]   # K keypoints, 2 (x, y) or 3 (x, y, visibility) values each
    flip_idx: [0, 2, 1, ...]   # optional, a permutation of range(K)
    names: {0: person}         # a dict {index: name} or a list
    coco_json: annotations/person_keypoints_val2017.json   # optional, relative to path

Paths are resolved against the yaml file's folder, never the current directory.
Split entries are checked when a split is used (see `split_sources`), so a
val-only copy of a dataset with a missing train folder still validates.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from ..errors import BadDatasetError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetConfig:
    """A parsed, checked dataset yaml. `splits` maps split name -> its entries (paths)."""

    yaml_path: Path
    root: Path
    splits: Mapping[str, tuple[Path, ...]]
    kpt_shape: tuple[int, int]
    names: Mapping[int, str]
    flip_idx: tuple[int, ...] | None = None
    coco_json: Path | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def nc(self) -> int:
        return len(self.names)


def load_dataset_yaml(path: str | Path) -> DatasetConfig:
    """Parse and check the dataset yaml at `path`; raises `BadDatasetError` with the fix."""
    yaml_path = Path(path).expanduser()
    if not yaml_path.is_file():
        fix = "pass the path to the dataset yaml (datasets are not downloaded)"
        if yaml_path.is_dir():
            fix = f"pass the yaml inside it, e.g. {sorted(yaml_path.glob('*.yaml'))[:1] or 'data.yaml'}"
        raise BadDatasetError(f"The dataset yaml {yaml_path} does not exist", "no file has that path", fix)
    yaml_path = yaml_path.resolve()
    raw = _read_yaml(yaml_path)
    root = _root(raw, yaml_path)
    if not raw.get("val"):
        raise BadDatasetError(f"The dataset yaml {yaml_path} has no 'val' entry",
                              "validation needs the list of validation images",
                              "add e.g. 'val: images/val' (a folder, a .txt list, or a list)",
                              context=[f"keys found: {sorted(raw)}"])
    kpt_shape = _kpt_shape(raw.get("kpt_shape"), yaml_path)
    splits = {name: _entries(raw[name], root, name, yaml_path) for name in SPLITS if raw.get(name)}
    coco = raw.get("coco_json")
    return DatasetConfig(
        yaml_path=yaml_path, root=root, splits=splits, kpt_shape=kpt_shape,
        names=_names(raw.get("names"), raw.get("nc"), yaml_path),
        flip_idx=_flip_idx(raw.get("flip_idx"), kpt_shape[0], yaml_path),
        coco_json=_resolve(coco, root) if coco else None,
        extra={k: v for k, v in raw.items()
               if k not in (*SPLITS, "path", "kpt_shape", "names", "nc", "flip_idx", "coco_json")})


def split_sources(config: DatasetConfig, split: str) -> tuple[Path, ...]:
    """The existing folders / list files of `split`; a missing one raises `BadDatasetError`."""
    if split not in config.splits:
        raise BadDatasetError(f"The dataset {config.yaml_path} has no '{split}' split",
                              f"its yaml defines {sorted(config.splits) or 'no splits'}",
                              f"add a '{split}:' entry or use one of those splits")
    entries = config.splits[split]
    missing = [p for p in entries if not p.exists()]
    if missing:
        raise BadDatasetError(
            f"The '{split}' images of {config.yaml_path.name} are missing",
            f"{missing[0]} does not exist",
            "fix the yaml: paths are relative to 'path', which is relative to the yaml file",
            context=[f"dataset root: {config.root}"] + [f"missing: {p}" for p in missing])
    return entries


def _read_yaml(yaml_path: Path) -> dict:
    try:
        raw = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise BadDatasetError(f"The dataset file {yaml_path} is not valid YAML", str(err).strip(),
                              "fix the syntax (e.g. check indentation and colons)") from err
    if not isinstance(raw, dict):
        raise BadDatasetError(f"The dataset file {yaml_path} is not a dataset yaml",
                              f"it holds a {type(raw).__name__}, not a mapping of keys",
                              "write 'path', 'val', 'kpt_shape' and 'names' keys")
    return raw


def _root(raw: dict, yaml_path: Path) -> Path:
    text = raw.get("path")
    root = _resolve(text, yaml_path.parent) if text not in (None, "") else yaml_path.parent
    if not root.is_dir():
        raise BadDatasetError(f"The dataset root {root} does not exist",
                              f"'path: {text}' in {yaml_path} points to no folder",
                              "a relative 'path' starts from the yaml's folder; use '.' for that folder")
    return root


def _resolve(text: object, base: Path) -> Path:
    path = Path(str(text)).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _entries(value: object, root: Path, split: str, yaml_path: Path) -> tuple[Path, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    if not all(isinstance(v, (str, Path)) for v in items):
        raise BadDatasetError(f"The '{split}' entry of {yaml_path} cannot be read",
                              f"it is {value!r}: expected a path or a list of paths",
                              f"write e.g. '{split}: images/{split}'")
    return tuple(_resolve(v, root) for v in items)


def _kpt_shape(value: object, yaml_path: Path) -> tuple[int, int]:
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
          and value[0] >= 1 and value[1] in (2, 3))
    if not ok:
        raise BadDatasetError(f"The kpt_shape of {yaml_path} is {value!r}",
                              "a pose dataset needs kpt_shape [K, 2] (x, y) or [K, 3] (x, y, visibility)",
                              "write e.g. 'kpt_shape: [17, 3]' for COCO keypoints")
    return int(value[0]), int(value[1])


def _flip_idx(value: object, k: int, yaml_path: Path) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != k:
        n = len(value) if isinstance(value, (list, tuple)) else "not a list"
        raise BadDatasetError(f"The flip_idx of {yaml_path} has {n} entries",
                              f"it needs one entry per keypoint: kpt_shape says {k}",
                              "list, for each keypoint, the index of its left/right mirror")
    if sorted(value) != list(range(k)):
        raise BadDatasetError(f"The flip_idx of {yaml_path} is not a permutation of 0..{k - 1}",
                              f"got {list(value)}",
                              "each keypoint index must appear exactly once")
    return tuple(int(v) for v in value)


def _names(value: object, nc: object, yaml_path: Path) -> dict[int, str]:
    if isinstance(value, (list, tuple)):
        names = {i: str(n) for i, n in enumerate(value)}
    elif isinstance(value, dict) and all(isinstance(k, int) for k in value):
        names = {int(k): str(v) for k, v in sorted(value.items())}
    elif value is None and isinstance(nc, int) and nc > 0:
        names = {i: f"class{i}" for i in range(nc)}
    else:
        raise BadDatasetError(f"The class names of {yaml_path} cannot be read",
                              f"'names' is {value!r}", "write 'names: {0: person}' or 'names: [person]'")
    if sorted(names) != list(range(len(names))) or not names:
        raise BadDatasetError(f"The class indices in 'names' of {yaml_path} are {sorted(names)}",
                              "class indices must be 0, 1, ..., nc-1", "renumber the names from 0")
    if nc is not None and nc != len(names):
        raise BadDatasetError(f"{yaml_path} says nc: {nc} but lists {len(names)} name(s)",
                              "the two must agree", "drop 'nc' or fix it")
    return names
