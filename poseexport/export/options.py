"""Export options: one frozen dataclass; every default lives here."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import UnsupportedOptionError

MIN_CALIBRATION_IMAGES = 32


@dataclass(frozen=True)
class ExportOptions:
    format: str = "onnx"
    imgsz: tuple[int, int] = (640, 640)
    batch: int = 1
    dynamic: bool = False
    half: bool = False
    int8: bool = False
    data: str | None = None  # calibration: dataset yaml or image folder
    fraction: float = 1.0  # of the calibration images to use
    simplify: bool = True
    golden: bool = True  # ship golden.npz (real inputs + expected outputs) for `poseexport selftest`
    opset: int | None = None
    nms: bool = False
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    device: str = "cpu"
    out: Path | None = None
    force: bool = False  # accept fewer calibration images than recommended
    validate: bool = True
    mobile: bool = False  # TorchScript: also write the mobile-optimised variant

    @property
    def precision(self) -> str:
        return "int8" if self.int8 else "fp16" if self.half else "fp32"

    def normalised(self, stride: int) -> ExportOptions:
        """Check values that don't depend on the format; return a copy with tuple imgsz."""
        size = self.imgsz
        sizes = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        if len(sizes) == 1:
            sizes = (sizes[0], sizes[0])
        if len(sizes) != 2 or any(s <= 0 or s % stride for s in sizes):
            raise UnsupportedOptionError(
                f"Image size {self.imgsz} cannot be exported",
                f"every side must be a positive multiple of the model stride {stride}",
                f"use e.g. --imgsz {max(stride, round(sizes[0] / stride) * stride)}")
        if self.half and self.int8:
            raise UnsupportedOptionError("--half and --int8 were both given",
                                         "an artifact has one precision", "choose one of them")
        if self.batch < 1:
            raise UnsupportedOptionError(f"Batch {self.batch} cannot be exported",
                                         "the batch size must be at least 1", "use --batch 1 or more")
        if not 0.0 < self.fraction <= 1.0:
            raise UnsupportedOptionError(f"fraction {self.fraction} is outside (0, 1]",
                                         "it is the share of calibration images to use",
                                         "pass a value such as 0.5 or 1.0")
        return replace(self, imgsz=sizes)

    def check_calibration(self) -> None:
        """INT8 needs real calibration images (checked after the format accepted int8)."""
        if self.int8 and not self.data:
            raise UnsupportedOptionError(
                "INT8 export needs calibration images",
                "quantisation scales are measured on real images, and none were given",
                "pass --data with a dataset yaml or a folder of images (for example "
                "../shared/data/calib-people)")
