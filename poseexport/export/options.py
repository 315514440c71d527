"""Export options: one frozen dataclass; every default lives here."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..contract.format_option import OptionValues
from ..errors import UnsupportedOptionError

MIN_CALIBRATION_IMAGES = 32
DECODE_CHOICES = ("graph", "host")


@dataclass(frozen=True)
class ExportOptions:
    """The options every format shares; the chosen format's own options (declared by its
    backend, e.g. ONNX's opset) travel in `format_options`, read with `option(name)`."""

    format: str = "onnx"
    imgsz: tuple[int, int] = (640, 640)
    batch: int = 1
    dynamic: bool = False
    half: bool = False
    int8: bool = False
    data: str | None = None  # calibration: dataset yaml or image folder
    fraction: float = 1.0  # of the calibration images to use
    golden: bool = True  # ship golden.npz (real inputs + expected outputs) for `poseexport selftest`
    nms: bool = False
    # "graph" | "host" (the graph ends at the head's raw maps, poseexport/decode/); None: the
    # format's default, graph wherever the format offers it (resolved by `for_backend`)
    decode: str | None = None
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    device: str = "cpu"  # the device the artifact is for: checked against the format's devices
    out: Path | None = None
    force: bool = False  # accept fewer calibration images than recommended
    validate: bool = True
    format_options: Mapping[str, Any] = field(default_factory=OptionValues)  # only those given

    def __post_init__(self) -> None:
        if not isinstance(self.format_options, OptionValues):
            object.__setattr__(self, "format_options", OptionValues(self.format_options))

    @classmethod
    def from_kwargs(cls, format: str = "onnx", **kwargs: Any) -> ExportOptions:
        """`model.export` keywords: the shared options by name, every other one a format option
        (checked against the format's declarations before any work)."""
        given = dict(kwargs.pop("format_options", None) or {})
        given.update({k: v for k, v in kwargs.items() if k not in CORE_OPTIONS})
        return cls(format=format, **{k: v for k, v in kwargs.items() if k in CORE_OPTIONS}, format_options=given)

    def option(self, name: str) -> Any:
        """A format option's value: as given, else the default its declaration names."""
        if name in self.format_options:
            return self.format_options[name]
        from .format_options import declaration

        found = declaration(self.format, name)
        if found is None:
            raise KeyError(f"no format option '{name}' is declared by {self.format}")
        return found.default

    def record(self) -> dict[str, Any]:
        """What the metadata's `options` keeps: the shared options, then the format's own
        (with their defaults where not given)."""
        from poseexport.contract.registry import get_backend

        shared = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("out", "format_options")}
        own = {o.name: self.option(o.name) for o in get_backend(self.format).options}
        return {**shared, **own, **self.format_options}

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
        if self.decode is not None and self.decode not in DECODE_CHOICES:
            raise UnsupportedOptionError(f"--decode {self.decode} is not known",
                                         "the box / keypoint decode runs in the graph or on the host",
                                         f"use one of: {', '.join(DECODE_CHOICES)}")
        if self.decode == "host" and self.nms:
            raise UnsupportedOptionError("--decode host and --nms cannot be combined",
                                         "the in-graph NMS needs the decoded boxes inside the graph",
                                         "drop --nms (poseexport runs NMS after the host decode), or drop --decode host")
        self.check_format_options()
        return replace(self, imgsz=sizes)

    def for_backend(self, backend) -> ExportOptions:
        """With the format's defaults filled in where the user gave none: the precision is fp32, or
        the format's only one where it has no fp32 (Edge TPU: int8); --decode is what the format
        chooses (Backend.default_decode: graph where offered; host for the Edge TPU and full-integer
        int8 TFLite). An explicit value is kept, and check_supported refuses what the format cannot
        honour."""
        caps, resolved = backend.capabilities, self
        if not (self.half or self.int8) and "fp32" not in caps.precisions:  # an int8-only format (Edge TPU)
            resolved = replace(resolved, int8=caps.precisions[0] == "int8", half=caps.precisions[0] == "fp16")
        if resolved.decode is None:
            resolved = replace(resolved, decode=backend.default_decode(resolved))
        return resolved

    def check_format_options(self, cli: bool = False) -> None:
        """Refuse options the format does not declare (never silently ignore them) and values
        its declarations do not allow, then let the format check the values of its own (e.g.
        the ONNX opset range). `cli`: name options by their flags."""
        from poseexport.contract.registry import get_backend

        from .format_options import check_given

        backend = get_backend(self.format)
        check_given(backend, self.format_options, CORE_OPTIONS, cli=cli)
        backend.check_options(self)

    def check_calibration(self) -> None:
        """INT8 needs real calibration images (checked after the format accepted int8)."""
        if self.int8 and not self.data:
            raise UnsupportedOptionError(
                "INT8 export needs calibration images",
                "quantisation scales are measured on real images, and none were given",
                "pass --data with a dataset yaml or a folder of images (for example "
                "../shared/data/calib-people)")



# the keywords of model.export that are shared options (the others belong to a format)
CORE_OPTIONS = tuple(f.name for f in fields(ExportOptions) if f.name not in ("format", "format_options"))
