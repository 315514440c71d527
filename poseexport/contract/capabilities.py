"""What a backend can do (`Capabilities`) and whether it can run here (`Availability`)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""  # why not, and the exact fix

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Capabilities:
    precisions: tuple[str, ...] = ("fp32",)
    dynamic: bool = False  # dynamic batch / image size
    nms: bool = False  # in-graph NMS output
    devices: tuple[str, ...] = ("cpu",)  # device kinds its artifacts run on; export checks --device
    runs_on: tuple[str, ...] = ("linux", "darwin", "windows")  # where load()/infer work
    layout: str = "NCHW"
    decode: tuple[str, ...] = ("graph",)  # "host": can end the graph at the raw head maps
    # precisions the format cannot offer -> why, and what to use instead (e.g. NCNN int8: its
    # quantisation tools are not on any package registry); refused with that reason
    refused: dict[str, str] = field(default_factory=dict)
