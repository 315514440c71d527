"""Validation settings; each default lives here."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import UnsupportedOptionError
from ..predict.predictor import PredictOptions


@dataclass(frozen=True)
class ValOptions:
    """How to validate. conf 0.001 keeps nearly every detection, as AP needs the whole PR curve.

    rect=True letterboxes each batch to its minimal stride-aligned rectangle
    (only for runtimes that accept any input shape); False uses imgsz x imgsz.
    rect=True with rect_pad=0.5 reproduces the reference YOLO val loader's batch
    shapes (long side imgsz + half a stride of padding each side; see rect_batches.py).
    `sigmas` overrides the OKS sigmas (default: COCO's for 17 keypoints, else 1/K).
    `coco_eval`: also run the COCO protocol when the dataset has a COCO JSON.
    """

    imgsz: int | tuple[int, int] = 640
    batch: int = 1
    conf: float = 0.001
    iou: float = 0.7
    max_det: int = 300
    rect: bool = False
    rect_pad: float = 0.0  # > 0: reference val-loader batch shapes (see rect_batches.py); 0.5 = its value
    split: str = "val"
    sigmas: tuple[float, ...] | None = None
    coco_eval: bool = True
    evaluator: str = "auto"  # "auto", "faster-coco-eval", "pycocotools" or "none"
    save_dir: str | Path | None = None  # PR-curve plots (and predictions.json) go here
    json_path: str | Path | None = None  # COCO-format predictions
    progress: bool = True
    cache: bool = True
    cache_dir: str | Path | None = None

    @staticmethod
    def from_kwargs(**kwargs) -> ValOptions:
        known = {f.name for f in fields(ValOptions)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise UnsupportedOptionError(f"Unknown validation option(s): {', '.join(unknown)}",
                                         "val accepts only the options listed below",
                                         "remove or rename them", context=[", ".join(sorted(known))])
        return ValOptions(**kwargs)

    def checked(self, stride: int) -> ValOptions:
        PredictOptions(imgsz=self.imgsz, conf=self.conf, iou=self.iou, max_det=self.max_det,
                       batch=self.batch).checked(stride)
        if self.rect_pad < 0 or (self.rect_pad and not self.rect):
            raise UnsupportedOptionError(f"rect_pad={self.rect_pad} cannot be used here",
                                         "rect_pad is extra padding (in strides) of rectangular batches",
                                         "pass rect=True with rect_pad >= 0 (0.5 = the reference val loader)")
        if self.rect_pad and not isinstance(self.imgsz, int):
            raise UnsupportedOptionError(f"rect_pad needs a single image size, not {self.imgsz}",
                                         "the reference batch shapes derive from one long-side size",
                                         "pass imgsz as one number, e.g. 640")
        if self.evaluator not in ("auto", "faster-coco-eval", "pycocotools", "none"):
            raise UnsupportedOptionError(f"Unknown COCO evaluator {self.evaluator!r}",
                                         "the official evaluator is faster-coco-eval or pycocotools",
                                         "use evaluator='auto', 'faster-coco-eval', 'pycocotools' or 'none'")
        return self
