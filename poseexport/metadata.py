"""One typed metadata schema for every exported artifact.

Serialised as JSON (never eval'd back), stored in each format's native slot where it
has one and as a `metadata.json` sidecar. Bump SCHEMA_VERSION when a field changes
meaning; readers accept older versions field by field.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

from .cpu import describe_cpu
from .errors import BadArtifactError
from .version import __version__

SCHEMA_VERSION = 1
METADATA_FILE = "metadata.json"
MANIFEST_FILE = "manifest.json"
METADATA_KEY = "poseexport"  # the key used in native slots (ONNX metadata_props, ...)


@dataclass(frozen=True)
class Calibration:
    """Where INT8 scales came from."""

    source: str
    images: int
    sha256: str  # over the sorted file digests of the images used
    method: str


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | fp16 | bf16 | int8
    calibration: Calibration | None = None
    notes: str = ""


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple  # ints, or strings for dynamic dims ("batch", "height", "width")
    layout: str = "NCHW"  # or NHWC
    color: str = "RGB"
    dtype: str = "float32"  # float32 | float16 | uint8 | int8
    # the tensor element for a 0..255 pixel p is p * scale + zero_point (rounded and clipped for
    # integer dtypes): float32 [0, 1] is scale 1/255; raw uint8 pixels are scale 1; an int8 input
    # quantised with zero point -128 is scale 1, zero_point -128 (contract/tensors.py)
    scale: float = 1 / 255
    letterbox_pad: int = 114
    zero_point: float = 0.0


@dataclass(frozen=True)
class OutputSpec:
    """One output tensor. kind: "raw" (B, 4+nc+K*D, N) decoded in the graph; "nms" (B, max_det,
    6+K*D); or "head": one raw head map of one level, decoded on the host (poseexport/decode/),
    whose `meaning` is box_distribution | class_logits | keypoint_offsets and `stride` its level's.
    A float value is (element - zero_point) * scale (integer dtypes; 1 and 0 for floats)."""

    name: str
    shape: tuple
    kind: str
    channels: tuple[str, ...]
    coordinates: str = "pixels"  # of the letterboxed input
    dtype: str = "float32"
    scale: float = 1.0
    zero_point: float = 0.0
    layout: str = ""  # head maps: "NCHW" (B, C, H, W) or "NHWC"; raw/nms: ""
    meaning: str = ""
    stride: int = 0


@dataclass(frozen=True)
class ModelFacts:
    task: str
    names: dict[int, str]
    kpt_shape: tuple[int, int]
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_idx: tuple[int, ...]
    stride: int
    imgsz: tuple[int, int]
    arch: str


@dataclass(frozen=True)
class Requirements:
    """What the artifact needs to run (checked by `poseexport.load` before the runtime opens it)."""

    os: tuple[str, ...]  # any of: linux, darwin, windows
    devices: tuple[str, ...]  # device kinds the runtime can use, any of: cpu, cuda, ...
    packages: dict[str, str]  # pip distribution -> version range, e.g. {"onnxruntime": ">=1.20"}


@dataclass(frozen=True)
class Metadata:
    format: str
    precision: Precision
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    model: ModelFacts
    toolchain: dict[str, str]
    source_sha256: str | None
    options: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    # the CPU that built (and, for int8, calibrated) it: model, machine, ISA flags (poseexport.cpu);
    # empty in artifacts from before this field
    build_cpu: dict[str, str] = field(default_factory=describe_cpu)
    # where it runs (OS, devices, runtime versions); None in artifacts from before this field
    requirements: Requirements | None = None
    schema_version: int = SCHEMA_VERSION
    poseexport_version: str = __version__
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=False)

    def with_validation(self, validation: dict[str, Any]) -> Metadata:
        return dataclasses.replace(self, validation=validation)

    @staticmethod
    def from_json(text: str | bytes) -> Metadata:
        try:
            raw = json.loads(text)
            return metadata_from_dict(raw)
        except (ValueError, KeyError, TypeError) as err:
            raise BadArtifactError("The artifact's poseexport metadata cannot be read",
                                   f"it is not valid metadata JSON ({err})",
                                   "re-export the model with poseexport convert") from err


def metadata_from_dict(raw: dict) -> Metadata:
    if int(raw.get("schema_version", 0)) > SCHEMA_VERSION:
        raise BadArtifactError("The artifact was written by a newer poseexport",
                               f"metadata schema {raw['schema_version']} > {SCHEMA_VERSION}",
                               "upgrade poseexport to load it")
    prec = raw["precision"]
    cal = prec.get("calibration")
    m = raw["model"]
    return Metadata(
        format=raw["format"],
        precision=Precision(prec["name"], Calibration(**cal) if cal else None, prec.get("notes", "")),
        inputs=tuple(InputSpec(**{**i, "shape": tuple(i["shape"])}) for i in raw["inputs"]),
        outputs=tuple(OutputSpec(**{**o, "shape": tuple(o["shape"]), "channels": tuple(o["channels"])})
                      for o in raw["outputs"]),
        model=ModelFacts(
            task=m["task"], names={int(k): str(v) for k, v in m["names"].items()},
            kpt_shape=tuple(m["kpt_shape"]), keypoint_names=tuple(m["keypoint_names"]),
            skeleton=tuple(tuple(p) for p in m["skeleton"]), flip_idx=tuple(m["flip_idx"]),
            stride=int(m["stride"]), imgsz=tuple(m["imgsz"]), arch=m["arch"]),
        toolchain=dict(raw.get("toolchain", {})),
        source_sha256=raw.get("source_sha256"),
        options=dict(raw.get("options", {})),
        validation=raw.get("validation"),
        build_cpu={str(k): str(v) for k, v in (raw.get("build_cpu") or {}).items()},
        requirements=requirements_from_dict(raw.get("requirements")),
        schema_version=int(raw.get("schema_version", SCHEMA_VERSION)),
        poseexport_version=raw.get("poseexport_version", "?"),
        created=raw.get("created", ""),
    )


def requirements_from_dict(raw: dict | None) -> Requirements | None:
    if raw is None:
        return None
    return Requirements(os=tuple(str(o) for o in raw["os"]), devices=tuple(str(d) for d in raw["devices"]),
                        packages={str(k): str(v) for k, v in raw.get("packages", {}).items()})


def output_channels(nc: int, kpt_shape: tuple[int, int], names: dict[int, str],
                    keypoint_names: tuple[str, ...]) -> tuple[str, ...]:
    """What each channel of the raw output means, e.g. ('cx', 'cy', 'w', 'h', 'score:person', 'nose.x', ...)."""
    k, d = kpt_shape
    parts = ["cx", "cy", "w", "h"] + [f"score:{names.get(i, i)}" for i in range(nc)]
    for j in range(k):
        label = keypoint_names[j] if j < len(keypoint_names) else f"kpt{j}"
        parts += [f"{label}.x", f"{label}.y"] + ([f"{label}.visibility"] if d == 3 else [])
    return tuple(parts)
