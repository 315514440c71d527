"""The predict loop shared by every runtime: sources -> letterbox -> infer -> NMS -> Results.

`infer` is any callable taking a float32 NCHW RGB batch in [0, 1] and returning the
raw (B, 4 + nc + K*D, N) prediction, so PyTorch and every exported runtime share
exactly the same pre- and post-processing.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedOptionError
from .imgsz_limits import check_fits_in_memory
from .letterbox import preprocess
from .results import Results, postprocess
from .sources import BadFrame, Frame, iter_sources

InferFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class PredictOptions:
    """Inference settings; each default lives here."""

    imgsz: int | tuple[int, int] = 640
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    batch: int = 1

    def checked(self, stride: int) -> PredictOptions:
        sizes = (self.imgsz,) * 2 if isinstance(self.imgsz, int) else tuple(self.imgsz)
        if len(sizes) != 2 or any(int(s) <= 0 or int(s) % stride for s in sizes):
            raise UnsupportedOptionError(
                f"Image size {self.imgsz} cannot be used",
                f"every side must be a positive multiple of the model stride {stride}",
                f"use e.g. {max(stride, round(int(sizes[0]) / stride) * stride)}")
        if not 0.0 <= self.conf <= 1.0 or not 0.0 <= self.iou <= 1.0:
            raise UnsupportedOptionError("conf and iou must lie in [0, 1]",
                                         f"got conf={self.conf}, iou={self.iou}", "pass values in [0, 1]")
        if self.max_det < 1 or self.batch < 1:
            raise UnsupportedOptionError("max_det and batch must be at least 1",
                                         f"got max_det={self.max_det}, batch={self.batch}",
                                         "pass positive values")
        check_fits_in_memory(self.imgsz, self.batch, stride)
        return self


def predict_frames(infer: InferFn, source, options: PredictOptions, *, names: Mapping[int, str],
                   kpt_shape: tuple[int, int], stride: int = 32, errors: str = "raise") -> Iterator[Results]:
    """Yield one Results per image / video frame, `options.batch` frames per inference call.

    errors="report": a file that cannot be read yields `Results.failed` (its `error` says
    why) in its place, and the other files are still processed; "raise" stops at it.
    """
    options.checked(stride)
    pending: list[Frame] = []
    for frame in iter_sources(source, errors=errors):
        if isinstance(frame, BadFrame):  # keep the source order: run what came before it first
            if pending:
                yield from _run_batch(infer, pending, options, names, kpt_shape)
                pending = []
            yield Results.failed(frame.name, str(frame.error), names, kpt_shape)
            continue
        pending.append(frame)
        if len(pending) == options.batch:
            yield from _run_batch(infer, pending, options, names, kpt_shape)
            pending = []
    if pending:
        yield from _run_batch(infer, pending, options, names, kpt_shape)


def _run_batch(infer: InferFn, frames: list[Frame], options: PredictOptions,
               names: Mapping[int, str], kpt_shape: tuple[int, int]) -> list[Results]:
    return infer_images(infer, [f.image for f in frames], [f.name for f in frames],
                        lambda images: preprocess(images, options.imgsz), names, kpt_shape,
                        conf=options.conf, iou=options.iou, max_det=options.max_det)


def infer_images(infer: InferFn, images: list[np.ndarray], paths: list[str],
                 letterbox: Callable[[list[np.ndarray]], tuple[np.ndarray, list]],
                 names: Mapping[int, str], kpt_shape: tuple[int, int], *, conf: float, iou: float,
                 max_det: int) -> list[Results]:
    """One batch: letterbox -> infer -> NMS -> Results, each carrying its per-image timings."""
    t0 = time.perf_counter()
    batch, infos = letterbox(images)
    t1 = time.perf_counter()
    pred = np.asarray(infer(batch), dtype=np.float32)
    t2 = time.perf_counter()
    n = len(images)
    speed = {"preprocess": (t1 - t0) * 1000 / n, "inference": (t2 - t1) * 1000 / n}
    return postprocess(pred, infos, images, paths, names, kpt_shape, conf=conf, iou=iou,
                       max_det=max_det, speed=speed)
