"""The validation loop shared by every runtime: dataset -> letterbox -> infer -> NMS -> metrics.

`infer` takes a float32 NCHW RGB batch in [0, 1] and returns the raw
(B, 4 + nc + K*D, N) prediction, exactly as for `predict_frames`, so PyTorch and
every exported runtime are evaluated by the same code.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np

from ..data.coco_convert import (
    coco_results,
    image_id_map,
    read_coco_json,
    write_results_json,
)
from ..data.dataset import PoseDataset, Sample, load_split
from ..data.dataset_yaml import DatasetConfig
from ..errors import BadDatasetError, BadInputError
from ..metrics.matching import default_sigmas
from ..metrics.pose_metrics import TaskMetrics
from ..predict.letterbox import preprocess
from ..predict.predictor import InferFn, infer_images
from ..predict.sources import read_image
from .coco_eval import evaluate_coco, find_coco_json
from .image_match import ImageStats, match_image
from .label_check import require_labelled_objects
from .options import ValOptions
from .plots import save_pr_curves
from .rect_batches import rect_batch
from .report import ValMetrics


def validate(infer: InferFn, data: str | Path | DatasetConfig | PoseDataset, options: ValOptions,
             *, names: Mapping[int, str], kpt_shape: tuple[int, int], stride: int = 32) -> ValMetrics:
    """Evaluate `infer` on a dataset split: YOLO-style box/pose mAP, plus COCO AP if a JSON exists."""
    options.checked(stride)
    dataset = data if isinstance(data, PoseDataset) else load_split(
        data, options.split, cache=options.cache, cache_dir=options.cache_dir,
        progress=options.progress)
    _check_layout(dataset, names, kpt_shape)
    require_labelled_objects(dataset, "validation", "put the label files where they belong; to see what "
                                                    "a model finds in unlabelled images, use poseexport predict")
    sigmas = np.asarray(options.sigmas if options.sigmas is not None
                        else default_sigmas(kpt_shape[0]), dtype=np.float64)
    if len(sigmas) != kpt_shape[0]:
        raise BadDatasetError(f"{len(sigmas)} OKS sigmas were given for {kpt_shape[0]} keypoints",
                              "OKS needs one sigma per keypoint", f"pass {kpt_shape[0]} sigmas")
    notes = [f"{len(dataset.report.issues)} dataset issue(s): " + "; ".join(dataset.report.issue_lines(3))
             ] if dataset.report.issues else []
    coco_json = find_coco_json(dataset.config, options.split) if options.coco_eval else None
    gt = read_coco_json(coco_json) if coco_json else None
    ids = image_id_map(gt) if gt else {}

    stats, results, in_json, timing = [], [], [], np.zeros(3)
    for batch in _batches(dataset.samples, options):
        done = _run_batch(infer, batch, options, names, kpt_shape, stride, sigmas, timing, notes)
        for sample, result, image_stats in done:
            stats.append(image_stats)
            name = sample.image.name
            image_id = ids[name] if name in ids else _fallback_id(sample.image)
            found = coco_results(image_id, result.boxes.xyxy, result.boxes.conf, result.boxes.cls,
                                 result.keypoints.data)
            results += found
            in_json += [name in ids] * len(found)
    box, pose = _summarise(stats, len(names))
    coco = None
    if gt is not None:
        evaluated = [ids[s.image.name] for s in dataset.samples if s.image.name in ids]
        if len(evaluated) < len(dataset.samples):
            notes.append(f"{len(dataset.samples) - len(evaluated)} image(s) are not in "
                         f"{coco_json.name}; COCO AP covers the others")
        coco = evaluate_coco(gt, coco_json, [r for r, ok in zip(results, in_json) if ok], evaluated,
                             sigmas, options.evaluator)
        notes += [coco.note] if coco.note else []
    files = _save_outputs(results, box, pose, names, options, notes)
    speed = dict(zip(("preprocess", "inference", "postprocess"),
                     (timing / max(len(stats), 1)).tolist()))
    return ValMetrics(box=box, pose=pose, speed=speed, images=len(stats),
                      instances=int(sum(len(s.target_cls) for s in stats)), dataset=dataset.report,
                      coco=coco, notes=tuple(notes), files=tuple(files))


def _save_outputs(results: list[dict], box: TaskMetrics, pose: TaskMetrics, names, options: ValOptions,
                  notes: list[str]) -> list[Path]:
    """predictions JSON (json_path, or save_dir/predictions.json) and PR plots in save_dir."""
    files = []
    json_path = options.json_path or (Path(options.save_dir) / "predictions.json"
                                      if options.save_dir else None)
    if json_path:
        files.append(write_results_json(results, json_path))
    if options.save_dir:
        plots, note = save_pr_curves(box, pose, names, Path(options.save_dir))
        files += plots
        notes += [note] if note else []
    return files


def _check_layout(dataset: PoseDataset, names: Mapping[int, str], kpt_shape: tuple[int, int]) -> None:
    config = dataset.config
    if config.nc != len(names) or config.kpt_shape[0] != kpt_shape[0]:
        raise BadDatasetError(
            f"The dataset {config.yaml_path.name} does not fit the model",
            f"the model predicts {len(names)} class(es) with {kpt_shape[0]} keypoints, the dataset "
            f"has {config.nc} class(es) with kpt_shape {list(config.kpt_shape)}",
            "validate on a dataset with the model's classes and keypoint layout")


def _batches(samples: tuple[Sample, ...], options: ValOptions):
    """Batches of samples; with rect and batch > 1, images of similar aspect ratio go together."""
    order = list(samples)
    if options.rect and options.batch > 1:
        order.sort(key=lambda s: s.shape[0] / s.shape[1])
    from tqdm import tqdm

    progress = tqdm(total=len(order), desc="val", unit="img", leave=False, file=sys.stderr,
                    disable=(not options.progress) or None)
    try:
        for start in range(0, len(order), options.batch):
            chunk = order[start:start + options.batch]
            yield chunk
            progress.update(len(chunk))
    finally:
        progress.close()


def _run_batch(infer: InferFn, samples: list[Sample], options: ValOptions, names, kpt_shape,
               stride: int, sigmas: np.ndarray, timing: np.ndarray, notes: list[str]):
    images, kept = [], []
    for sample in samples:
        try:
            images.append(read_image(sample.image))
            kept.append(sample)
        except BadInputError as err:  # changed on disk since the scan
            notes.append(f"skipped {sample.image}: {err.what}")
    if not kept:
        return []
    if options.rect and options.rect_pad > 0:
        letterbox = partial(rect_batch, imgsz=options.imgsz, stride=stride, pad=options.rect_pad)
    else:
        letterbox = partial(preprocess, imgsz=options.imgsz, stride=stride, auto=options.rect)
    results = infer_images(infer, images, [str(s.image) for s in kept], letterbox, names, kpt_shape,
                           conf=options.conf, iou=options.iou, max_det=options.max_det)
    for r in results:  # per-image milliseconds -> the run's totals
        timing += [r.speed["preprocess"], r.speed["inference"], r.speed["postprocess"]]
    return [(s, r, match_image(r, s, sigmas)) for s, r in zip(kept, results)]


def _summarise(stats: list[ImageStats], nc: int) -> tuple[TaskMetrics, TaskMetrics]:
    def cat(name: str, shape: tuple[int, ...]) -> np.ndarray:
        parts = [getattr(s, name) for s in stats]
        return np.concatenate(parts) if parts else np.zeros(shape)

    conf, pred_cls, target = cat("conf", (0,)), cat("pred_cls", (0,)), cat("target_cls", (0,))
    box = TaskMetrics.compute("box", cat("tp_box", (0, 10)), conf, pred_cls, target, nc)
    pose = TaskMetrics.compute("pose", cat("tp_pose", (0, 10)), conf, pred_cls, target, nc)
    return box, pose


def _fallback_id(image: Path) -> int | str:
    """Without a COCO JSON: the numeric file stem (COCO style) or the stem itself."""
    return int(image.stem) if image.stem.isdigit() else image.stem
