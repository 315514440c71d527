"""The COCO protocol on a dataset that ships its COCO JSON: ours, and the official evaluator.

The JSON is the yaml's `coco_json:` entry, else `annotations/*keypoints*.json`
in a folder between the split's images and the dataset root. The official
evaluator is faster-coco-eval if importable, else pycocotools; with neither,
only our implementation runs and a note says so.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.dataset_yaml import DatasetConfig
from ..errors import BadDatasetError
from ..metrics.coco_protocol import CocoAP, coco_protocol_ap


@dataclass(frozen=True)
class CocoReport:
    """COCO AP of the same predictions: our protocol, and the official one when it ran."""

    json_path: Path
    images: int  # images evaluated (dataset images found in the JSON)
    ours_pose: CocoAP
    ours_box: CocoAP
    official_pose: CocoAP | None = None
    official_box: CocoAP | None = None
    evaluator: str | None = None  # e.g. "faster-coco-eval 1.8.0"
    note: str | None = None


def find_coco_json(config: DatasetConfig, split: str) -> Path | None:
    """The COCO ground truth for `split`, or None when the dataset has none."""
    if config.coco_json is not None:
        if not config.coco_json.is_file():
            raise BadDatasetError(f"The coco_json of {config.yaml_path} does not exist",
                                  f"{config.coco_json} is not a file",
                                  "fix the path (relative to the dataset root) or remove the key")
        return config.coco_json
    for source in config.splits.get(split, ()):
        folder = source if source.is_dir() else source.parent
        while True:
            found = sorted((folder / "annotations").glob("*keypoints*.json"))
            if found:
                return next((p for p in found if split in p.name), found[0])
            if folder == config.root or folder.parent == folder or config.root not in folder.parents:
                break
            folder = folder.parent
    return None


def evaluate_coco(gt: dict, json_path: Path, results: list[dict], img_ids: Sequence[int],
                  sigmas: np.ndarray, evaluator: str = "auto") -> CocoReport:
    """Run our protocol and (if available) the official evaluator on `results`."""
    ours_pose = coco_protocol_ap(gt, results, "keypoints", img_ids, sigmas)
    ours_box = coco_protocol_ap(gt, results, "bbox", img_ids)
    base = {"json_path": json_path, "images": len(img_ids), "ours_pose": ours_pose, "ours_box": ours_box}
    if evaluator == "none":
        return CocoReport(**base, note="official COCO evaluator not run (evaluator='none')")
    backend = _official_backend(evaluator)
    if backend is None:
        return CocoReport(**base, note="official COCO evaluator skipped: install faster-coco-eval "
                                       "or pycocotools (pip install 'poseexport[eval]')")
    name, run = backend
    pose = run(json_path, results, img_ids, "keypoints", sigmas)
    box = run(json_path, results, img_ids, "bbox", None)
    return CocoReport(**base, official_pose=pose, official_box=box, evaluator=name)


def _official_backend(evaluator: str):
    if evaluator in ("auto", "faster-coco-eval"):
        try:
            import faster_coco_eval
            return f"faster-coco-eval {faster_coco_eval.__version__}", _run_faster
        except ImportError:
            if evaluator == "faster-coco-eval":
                return None
    if evaluator in ("auto", "pycocotools"):
        try:
            from importlib.metadata import version

            import pycocotools  # noqa: F401  (probe: is it installed?)
            return f"pycocotools {version('pycocotools')}", _run_pycocotools
        except ImportError:
            return None
    return None


def _for_type(results: list[dict], iou_type: str) -> list[dict]:
    if iou_type == "bbox":
        return [{k: v for k, v in r.items() if k != "keypoints"} for r in results]
    return results


def _stats(evaluation) -> CocoAP:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    s = evaluation.stats
    return CocoAP(float(s[0]), float(s[1]), float(s[2]))


def _load(coco_class, json_path: Path, results: list[dict], iou_type: str):
    """(ground truth, detections) as the evaluator's COCO objects, its loading chatter silenced."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_class(str(json_path))
        return gt, gt.loadRes(_for_type(results, iou_type))


def _run_pycocotools(json_path: Path, results, img_ids, iou_type: str, sigmas) -> CocoAP:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return CocoAP(0.0, 0.0, 0.0)
    gt, dt = _load(COCO, json_path, results, iou_type)
    evaluation = COCOeval(gt, dt, iou_type)
    evaluation.params.imgIds = list(img_ids)
    if sigmas is not None:
        evaluation.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
    return _stats(evaluation)


def _run_faster(json_path: Path, results, img_ids, iou_type: str, sigmas) -> CocoAP:
    from faster_coco_eval import COCO, COCOeval_faster

    if not results:
        return CocoAP(0.0, 0.0, 0.0)
    gt, dt = _load(COCO, json_path, results, iou_type)
    extra = {"kpt_oks_sigmas": list(map(float, sigmas))} if sigmas is not None else {}
    evaluation = COCOeval_faster(gt, dt, iouType=iou_type, print_function=lambda *a, **k: None, **extra)
    evaluation.params.imgIds = list(img_ids)
    return _stats(evaluation)
