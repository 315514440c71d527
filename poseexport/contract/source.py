"""What a backend converts from: the traced graph, or another format's artifact at a precision.

`Backend.source` is "graph", a format name ("onnx": that format's fp32 artifact), or a
`Source` naming the precision and options too — e.g. an Edge TPU backend declares
`Source("tflite", precision="int8")`: the compiler takes a full-int8 TFLite, not fp32. The
pipeline (export/pipeline.py `build_source`) builds each distinct upstream once per export,
cached by (format, precision, options); the upstream writes its own metadata (its precision,
its calibration) and is validated before the next stage uses it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GRAPH = "graph"
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Source:
    format: str
    precision: str = "fp32"
    options: dict[str, Any] = field(default_factory=dict)  # upstream export options (e.g. {"decode": "host"})

    @property
    def key(self) -> tuple:
        return (self.format, self.precision, tuple(sorted((k, repr(v)) for k, v in self.options.items())))

    def describe(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.format} {self.precision}{extra}"


def as_source(declared: str | Source) -> Source | None:
    """A backend's `source` declaration as a Source; None for the traced graph."""
    if isinstance(declared, Source):
        return declared
    return None if declared == GRAPH else Source(declared)
