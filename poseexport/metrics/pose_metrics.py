"""Box or pose detection metrics of a whole evaluation, YOLO style.

Build with `TaskMetrics.compute(tp, conf, pred_cls, target_cls, nc)`; read
`map` (mAP50-95), `map50`, `map75`, `maps` (per class), `mp` / `mr` (mean
precision / recall at the max-F1 confidence). Means run over the classes that
have ground truth; per-class values of classes without any are nan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ap import ClassAP, ap_per_class
from .matching import IOU_THRESHOLDS


@dataclass(frozen=True, eq=False)
class TaskMetrics:
    """AP (nc, T) per class and threshold, with P/R/F1 at the max-F1 confidence."""

    kind: str  # "box" or "pose"
    result: ClassAP
    thresholds: np.ndarray = field(default_factory=IOU_THRESHOLDS.copy)

    @staticmethod
    def compute(kind: str, tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray,
                target_cls: np.ndarray, nc: int, method: str = "continuous") -> TaskMetrics:
        return TaskMetrics(kind, ap_per_class(tp, conf, pred_cls, target_cls, nc, method))

    def _mean(self, values: np.ndarray) -> float:
        present = self.result.present
        return float(np.mean(values[present])) if present.any() else 0.0

    def _at(self, threshold: float) -> float:
        return self._mean(self.result.ap[:, int(np.argmin(np.abs(self.thresholds - threshold)))])

    @property
    def map(self) -> float:
        """mAP over the thresholds 0.50:0.95."""
        return self._mean(self.result.ap.mean(1))

    @property
    def map50(self) -> float:
        return self._at(0.5)

    @property
    def map75(self) -> float:
        return self._at(0.75)

    @property
    def maps(self) -> np.ndarray:
        """(nc,) mAP50-95 of each class (nan: no ground truth of that class)."""
        return self.result.ap.mean(1)

    @property
    def ap50(self) -> np.ndarray:
        return self.result.ap[:, 0]

    @property
    def mp(self) -> float:
        return self._mean(self.result.p)

    @property
    def mr(self) -> float:
        return self._mean(self.result.r)

    def to_dict(self) -> dict[str, float]:
        return {"map50-95": self.map, "map50": self.map50, "map75": self.map75,
                "precision": self.mp, "recall": self.mr}
