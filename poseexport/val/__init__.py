"""Validation on YOLO-pose datasets, for PyTorch and every exported runtime alike.

    validate(runner.forward, "coco8-pose.yaml", ValOptions(), names=..., kpt_shape=..., stride=32)
    validate_model(PoseModel("yolo11n-pose.pt"), "coco8-pose.yaml", rect=True)
"""
from __future__ import annotations

from pathlib import Path

from ..errors import BadDatasetError, UnsupportedOptionError
from .coco_eval import CocoReport, find_coco_json
from .options import ValOptions
from .report import ValMetrics
from .validator import validate

__all__ = ["CocoReport", "ValMetrics", "ValOptions", "find_coco_json", "validate", "validate_model"]


def validate_model(model, data=None, **options) -> ValMetrics:
    """Validate a PoseModel (or ArtifactModel) on `data`; without `data`, the data it last used.

    Options are the fields of `ValOptions` (imgsz, batch, conf, iou, max_det, rect,
    save_dir, json_path, ...). The model remembers `data` as `model.data`.
    """
    data = data if data is not None else getattr(model, "data", None)
    if data is None:
        raise BadDatasetError("No dataset to validate on",
                              "this model was not trained or validated on a dataset yet",
                              "pass data='path/to/dataset.yaml'")
    options["imgsz"] = model.resolve_imgsz(options.get("imgsz"))  # artifacts may have a fixed size
    if options.get("rect") and model.fixed_imgsz:
        raise UnsupportedOptionError(
            "rect=True cannot be used with this artifact",
            f"its input shape is fixed at {list(model.fixed_imgsz)}",
            "validate without rect, or export with a dynamic input shape")
    opts = ValOptions.from_kwargs(**options)
    metrics = validate(model.forward_numpy, data, opts, names=model.names,
                       kpt_shape=model.kpt_shape, stride=model.stride)
    model.data = str(data) if isinstance(data, Path) else data
    return metrics
