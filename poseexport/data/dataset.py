"""A scanned split of a YOLO-pose dataset: usable samples plus a report of what was skipped.

    ds = load_split("coco8-pose.yaml", "val")
    print(ds.report.summary()); for line in ds.report.issue_lines(): print(line)
    for sample in ds.samples: sample.image, sample.labels.keypoints ...

Missing label file = background image (kept, no objects). Empty label file =
also kept, no objects. Corrupt image or malformed label file = skipped, and
every reason is listed with its file and line (see `labels.py` for the policy).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import cache_path, content_key, read_cache, write_cache
from .dataset_yaml import DatasetConfig, load_dataset_yaml, split_sources
from .images import image_shape, label_path_for, list_images
from .labels import ImageLabels, LabelIssue, parse_label_text


@dataclass(frozen=True)
class Sample:
    """One usable image: its path, label path, (h, w) and normalised labels."""

    image: Path
    label: Path
    shape: tuple[int, int]
    labels: ImageLabels


@dataclass(frozen=True)
class DatasetReport:
    """What scanning a split found; `issues` name the file and line of every problem."""

    split: str
    images_found: int
    images_used: int
    instances: int
    backgrounds: int  # no label file
    empty: int  # label file without objects
    corrupt: int  # image that does not decode
    rejected: int  # malformed label file
    issues: tuple[LabelIssue, ...]
    cache: str  # "hit <path>", "written <path>", "off", or why it was not written

    def summary(self) -> str:
        return (f"{self.split}: {self.images_used}/{self.images_found} images used, "
                f"{self.instances} instances ({self.backgrounds} backgrounds, {self.empty} empty, "
                f"{self.corrupt} corrupt, {self.rejected} with bad labels skipped)")

    def issue_lines(self, limit: int | None = 20) -> list[str]:
        lines = [str(issue) for issue in self.issues]
        if limit is not None and len(lines) > limit:
            lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
        return lines


@dataclass(frozen=True)
class PoseDataset:
    """The usable samples of one split of a dataset, with its config and scan report."""

    config: DatasetConfig
    split: str
    samples: tuple[Sample, ...]
    report: DatasetReport

    def __len__(self) -> int:
        return len(self.samples)


def load_split(data: str | Path | DatasetConfig, split: str = "val", *, cache: bool = True,
               cache_dir: str | Path | None = None, progress: bool = True) -> PoseDataset:
    """Scan `split` of a dataset yaml (path or parsed config), using/updating the label cache."""
    config = data if isinstance(data, DatasetConfig) else load_dataset_yaml(data)
    images = list_images(split_sources(config, split))
    labels = [label_path_for(p) for p in images]
    entries, cache_note = None, "off"
    if cache:
        key = content_key(images, labels, config.kpt_shape, config.nc)
        where = cache_path(labels[0].parent, split, Path(cache_dir) if cache_dir else None)
        cached = read_cache(where, key)
        if cached is not None:
            entries, cache_note = cached["entries"], f"hit {where}"
    if entries is None:
        entries = _scan(images, labels, config, progress)
        if cache:
            failed = write_cache(where, key, {"entries": entries})
            cache_note = f"written {where}" if failed is None else f"not written ({failed})"
    return _build(config, split, entries, cache_note)


def _scan(images: list[Path], labels: list[Path], config: DatasetConfig, progress: bool) -> list[dict]:
    from tqdm import tqdm

    entries = []
    pairs = tqdm(list(zip(images, labels)), desc="scan labels", unit="img", leave=False,
                 file=sys.stderr, disable=(not progress) or None)
    for image, label in pairs:
        entries.append(_scan_one(image, label, config))
    return entries


def _scan_one(image: Path, label: Path, config: DatasetConfig) -> dict:
    entry = {"image": str(image), "label": str(label), "shape": None, "state": "ok", "rows": [],
             "issues": []}
    try:
        entry["shape"] = list(image_shape(image))
    except (ValueError, OSError) as err:
        entry["state"] = "corrupt"
        entry["issues"] = [[None, f"corrupt image: {err}", True]]
        entry["issue_path"] = str(image)
        return entry
    if not label.is_file():
        entry["state"] = "missing"
        return entry
    try:
        text = label.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        entry["state"] = "rejected"
        entry["issues"] = [[None, f"label file cannot be read as text: {err}", True]]
        return entry
    parsed, issues = parse_label_text(text, config.kpt_shape, config.nc, str(label))
    entry["issues"] = [[i.line, i.problem, i.skipped] for i in issues]
    if parsed is None:
        entry["state"] = "rejected"
    elif len(parsed) == 0:
        entry["state"] = "empty"
    else:
        entry["rows"] = np.concatenate([parsed.cls[:, None], parsed.boxes,
                                        parsed.keypoints.reshape(len(parsed), -1)], 1).tolist()
    return entry


def _build(config: DatasetConfig, split: str, entries: list[dict], cache_note: str) -> PoseDataset:
    k, d = config.kpt_shape
    samples, issues = [], []
    counts = {"missing": 0, "empty": 0, "corrupt": 0, "rejected": 0}
    for e in entries:
        where = e.get("issue_path", e["label"])
        issues += [LabelIssue(where, line, problem, skipped) for line, problem, skipped in e["issues"]]
        if e["state"] in counts:
            counts[e["state"]] += 1
        if e["state"] in ("corrupt", "rejected"):
            continue
        rows = np.asarray(e["rows"], dtype=np.float32).reshape(-1, 5 + k * d)
        labels = ImageLabels(rows[:, 0].astype(np.int64), rows[:, 1:5].copy(),
                             rows[:, 5:].reshape(len(rows), k, d).copy())
        samples.append(Sample(Path(e["image"]), Path(e["label"]), tuple(e["shape"]), labels))
    report = DatasetReport(
        split=split, images_found=len(entries), images_used=len(samples),
        instances=sum(len(s.labels) for s in samples), backgrounds=counts["missing"],
        empty=counts["empty"], corrupt=counts["corrupt"], rejected=counts["rejected"],
        issues=tuple(issues), cache=cache_note)
    return PoseDataset(config, split, tuple(samples), report)
