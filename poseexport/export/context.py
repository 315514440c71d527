"""What a backend receives for one export: options, the traced model, calibration, metadata."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..metadata import Calibration, Metadata
from .options import ExportOptions
from .trace import TracedModel


@dataclass
class CalibrationSet:
    """Letterboxed calibration images (float32 NCHW RGB [0, 1]) and where they came from."""

    images: np.ndarray
    info: Calibration

    def batches(self, batch: int = 1):
        for i in range(0, len(self.images), batch):
            yield self.images[i:i + batch]


@dataclass
class ExportContext:
    options: ExportOptions
    traced: TracedModel
    metadata: Metadata  # precision, specs and facts of the artifact being written
    work_dir: Path  # scratch space for intermediate files (deleted after the export)
    calibration: CalibrationSet | None = None

    def record_calibration(self, method: str) -> None:
        """Put the calibration set and the quantisation method into the artifact's metadata."""
        cal = replace(self.calibration.info, method=method)
        self.metadata = replace(self.metadata, precision=replace(self.metadata.precision, calibration=cal))
