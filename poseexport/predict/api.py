"""predict / stream for every model kind (PyTorch checkpoints and exported artifacts); `val` is
poseexport/val/api.py's `ValidatesPoses`, mixed in beside it.

A class mixing this in provides `forward_numpy`, `names`, `kpt_shape` and `stride`, and
may override `resolve_imgsz` / `fixed_imgsz` (artifacts exported at a fixed size).
"""
from __future__ import annotations

from collections.abc import Iterator

from .predictor import PredictOptions, predict_frames
from .results import Results

DEFAULT_IMGSZ = 640


class PredictsPoses:
    fixed_imgsz: tuple[int, int] | None = None  # an input size the model cannot change

    def resolve_imgsz(self, imgsz: int | tuple[int, int] | None) -> int | tuple[int, int]:
        """The size to run at when the caller asked for `imgsz` (None: the default)."""
        return DEFAULT_IMGSZ if imgsz is None else imgsz

    def predict(self, source, *, imgsz: int | tuple[int, int] | None = None, conf: float = 0.25,
                iou: float = 0.7, max_det: int = 300, batch: int = 1, errors: str = "raise") -> list[Results]:
        """Detect persons and keypoints in every image / frame of `source`.

        errors="report": a file that cannot be read gives a Results whose `error` says why
        (and no detections) instead of raising, so the other files are still processed."""
        return list(self.stream(source, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, batch=batch,
                                errors=errors))

    def stream(self, source, *, imgsz: int | tuple[int, int] | None = None, conf: float = 0.25,
               iou: float = 0.7, max_det: int = 300, batch: int = 1, errors: str = "raise") -> Iterator[Results]:
        """Like predict, one Results at a time (for long videos)."""
        options = PredictOptions(imgsz=self.resolve_imgsz(imgsz), conf=conf, iou=iou, max_det=max_det,
                                 batch=batch)
        yield from predict_frames(self.forward_numpy, source, options, names=self.names,
                                  kpt_shape=self.kpt_shape, stride=self.stride, errors=errors)

    def __call__(self, source, **kwargs) -> list[Results]:
        return self.predict(source, **kwargs)
