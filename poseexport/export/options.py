"""Export options: one frozen dataclass; every default lives here."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import UnsupportedOptionError

MIN_CALIBRATION_IMAGES = 32
DECODE_CHOICES = ("graph", "host")
# options only some formats use -> how the CLI spells them; a backend lists the ones it uses
# in `format_options`, and any other one set away from its default is refused
FORMAT_OPTIONS = {"opset": "--opset", "simplify": "--no-simplify", "mobile": "--mobile"}


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
    decode: str = "graph"  # "host": the graph ends at the head's raw maps (poseexport/decode/)
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
        """Check the values (and the format-specific options against what the format uses);
        return a copy with tuple imgsz."""
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
        if self.decode not in DECODE_CHOICES:
            raise UnsupportedOptionError(f"--decode {self.decode} is not known",
                                         "the box / keypoint decode runs in the graph or on the host",
                                         f"use one of: {', '.join(DECODE_CHOICES)}")
        if self.decode == "host" and self.nms:
            raise UnsupportedOptionError("--decode host and --nms cannot be combined",
                                         "the in-graph NMS needs the decoded boxes inside the graph",
                                         "drop --nms (poseexport runs NMS after the host decode), or drop --decode host")
        self.check_format_options()
        return replace(self, imgsz=sizes)

    def check_format_options(self) -> None:
        """Refuse options the format does not use (never silently ignore them), then let the
        format check the values of its own (e.g. the ONNX opset range)."""
        from poseexport.contract.registry import get_backend

        backend = get_backend(self.format)
        defaults = {f.name: f.default for f in fields(self)}
        unused = [name for name in FORMAT_OPTIONS
                  if name not in backend.format_options and getattr(self, name) != defaults[name]]
        if unused:
            takes = ", ".join(FORMAT_OPTIONS[n] for n in backend.format_options) or "no format-specific options"
            users = sorted({fmt for n in unused for fmt in _formats_using(n)})
            raise UnsupportedOptionError(
                f"{backend.title} export does not use {', '.join(FORMAT_OPTIONS[n] for n in unused)}",
                f"{'that option is' if len(unused) == 1 else 'those options are'} for "
                f"{', '.join(users) or 'other formats'} only",
                f"drop it, or export to {' or '.join(users)}" if users else "drop it",
                context=[f"{backend.name} takes: {takes}"])
        backend.check_options(self)

    def check_calibration(self) -> None:
        """INT8 needs real calibration images (checked after the format accepted int8)."""
        if self.int8 and not self.data:
            raise UnsupportedOptionError(
                "INT8 export needs calibration images",
                "quantisation scales are measured on real images, and none were given",
                "pass --data with a dataset yaml or a folder of images (for example "
                "../shared/data/calib-people)")


def _formats_using(option: str) -> list[str]:
    from poseexport.contract.registry import get_backend, registered

    found = []
    for name in registered():
        try:
            if option in get_backend(name).format_options:
                found.append(name)
        except (ImportError, AttributeError):  # a plugin that does not import cannot be suggested
            continue
    return found
