"""The backend contract: one class per export format.

A backend declares what it needs (`source`: "graph" for the traced PyTorch program,
or another backend's name such as "onnx"), what it can do (`capabilities`), whether
it can run here (`availability()`), and implements `export()` and `load()`. It never
calls another backend: the pipeline builds the declared source and hands it over.
Backends don't time themselves; benchmarks time `Runner.infer` from outside.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from poseexport.errors import BadArtifactError, MissingDependencyError
from poseexport.metadata import METADATA_FILE, Metadata


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
    devices: tuple[str, ...] = ("cpu",)
    runs_on: tuple[str, ...] = ("linux", "darwin", "windows")  # where load()/infer work
    layout: str = "NCHW"


@dataclass(frozen=True)
class Tolerance:
    """Largest acceptable differences against the PyTorch reference.

    Raw tensors (`box_px`, `score`, `kpt_px`) are checked where they are meaningful, fp32 and
    fp16; None: not checked. INT8 has none: it moves a person's peak score to a neighbouring
    anchor (one anchor 0.91 -> 0.00, its neighbour 0.36 -> 0.91) while the persons after NMS
    stay the same, so int8 is judged on what users see: persons missed and invented, matched
    keypoints (mean and p95) and score drift.

    Missed and invented persons are counted only among persons scoring at least `judge_margin`
    above the detection threshold (0.25): a person the reference scores just above it may fall
    just under it in the artifact (and the other way round) without anything being wrong.
    """

    box_px: float | None  # raw box channels on relevant anchors, pixels of the letterboxed input
    score: float | None  # raw score channels (0..1), every anchor
    kpt_px: float | None  # raw keypoint coordinates on relevant anchors, pixels
    matched_kpt_px: float  # mean keypoint error of matched persons, pixels
    matched_kpt_p95_px: float  # 95th percentile of the keypoint errors of matched persons
    score_drift: float  # 95th percentile of the score changes of matched persons
    max_missed: int = 0  # reference persons with no match in the artifact
    max_invented: int = 0  # artifact persons with no match in the reference (false positives)
    judge_margin: float = 0.01  # missed / invented count only persons scoring >= threshold + this

    @classmethod
    def from_dict(cls, values: dict, precision: str) -> Tolerance:
        """A tolerance as stored in a manifest. Artifacts written before the per-person limits
        lack some fields: those come from this version's defaults for `precision`; fields this
        version no longer has (`min_match_ratio`) are dropped."""
        known = {f for f in cls.__dataclass_fields__}
        given = {k: v for k, v in values.items() if k in known}
        base = DEFAULT_TOLERANCES.get(precision)
        if base is None:
            missing = known - set(given)
            required = {"matched_kpt_px", "matched_kpt_p95_px", "score_drift"}
            if missing & required:
                raise BadArtifactError(f"The stored tolerance lacks {', '.join(sorted(missing & required))}",
                                       f"no default exists for precision '{precision}' to fill it in",
                                       "re-export the artifact with this poseexport version")
            return cls(**{"box_px": None, "score": None, "kpt_px": None, **given})
        return replace(base, **given)


# measured on yolo11n-pose (see docs/validation.md): fp32 every figure < 1e-3; fp16 matched
# keypoints 0.10 px mean / 0.17 px p95, score drift 0.002; int8 (9 images: the 5 shipped photos
# and 4 calibration images, 44 persons) see the int8 entry
DEFAULT_TOLERANCES = {
    "fp32": Tolerance(box_px=0.05, score=1e-3, kpt_px=0.05, matched_kpt_px=0.05, matched_kpt_p95_px=0.1,
                      score_drift=2e-3, judge_margin=0.01),
    "fp16": Tolerance(box_px=2.0, score=0.05, kpt_px=3.0, matched_kpt_px=1.0, matched_kpt_p95_px=3.0,
                      score_drift=0.05, judge_margin=0.02),
    "bf16": Tolerance(box_px=8.0, score=0.2, kpt_px=8.0, matched_kpt_px=4.0, matched_kpt_p95_px=10.0,
                      score_drift=0.1, max_missed=1, max_invented=1, judge_margin=0.05),
    # ONNX Runtime QDQ and NNCF, 7-bit weights, 211 calibration images, 9 images (39 persons above
    # 0.35): matched keypoints 2.3-2.6 px mean / 7-9 px p95, score drift p95 0.13-0.20 (the largest:
    # a 0.30 person read 0.69 by OpenVINO), at most 1 person missed and 1 invented
    "int8": Tolerance(box_px=None, score=None, kpt_px=None, matched_kpt_px=4.0, matched_kpt_p95_px=15.0,
                      score_drift=0.25, max_missed=2, max_invented=2, judge_margin=0.1),
}


@dataclass
class Artifact:
    """What an export wrote: the folder, its main file, and the metadata."""

    path: Path  # the artifact folder
    main_file: Path  # the file (or folder) the runtime opens
    metadata: Metadata
    files: list[Path] = field(default_factory=list)


class Runner:
    """An opened artifact. Use as a context manager; `infer` maps inputs to raw outputs."""

    def __init__(self, artifact: Artifact):
        from .artifact_checks import check_metadata

        self.artifact = artifact
        self.metadata = artifact.metadata
        if self.metadata is None:
            raise BadArtifactError(f"{artifact.main_file} carries no poseexport metadata",
                                   "neither a metadata.json beside it nor metadata inside the model file",
                                   "load the artifact folder poseexport convert wrote, or re-export")
        check_metadata(self.metadata, self.where)
        self._output_checked = False

    @property
    def where(self) -> Path:
        """What the user opened, for messages: the artifact folder, or the bare model file."""
        folder = Path(self.artifact.path)
        return folder if (folder / METADATA_FILE).is_file() else Path(self.artifact.main_file)

    def checked_output(self, out: np.ndarray) -> np.ndarray:
        """The first output is compared with the metadata once (runtimes that declare no shape)."""
        if not self._output_checked:
            from .artifact_checks import check_output_shape

            check_output_shape(self.metadata, out.shape, self.where)
            self._output_checked = True
        return out

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release runtime resources (sessions, compiled models)."""

    def infer(self, images: np.ndarray) -> np.ndarray:
        """float32 NCHW RGB [0, 1] batch -> the artifact's first output as float32."""
        raise NotImplementedError

    # facts every predict/val path needs, from the metadata
    @property
    def names(self) -> dict[int, str]:
        return self.metadata.model.names

    @property
    def kpt_shape(self) -> tuple[int, int]:
        return tuple(self.metadata.model.kpt_shape)

    @property
    def stride(self) -> int:
        return self.metadata.model.stride

    @property
    def imgsz(self) -> tuple[int, int]:
        return tuple(self.metadata.model.imgsz)

    @property
    def batch(self) -> int | None:
        dim = self.metadata.inputs[0].shape[0]
        return dim if isinstance(dim, int) else None


class Backend:
    """Base class of a format plugin. Subclasses set the class attributes and override."""

    name: ClassVar[str]
    title: ClassVar[str]
    extra: ClassVar[str | None] = None  # pip extra that provides the toolchain
    source: ClassVar[str] = "graph"
    suffix: ClassVar[str]  # main file suffix, or "" for a folder
    capabilities: ClassVar[Capabilities] = Capabilities()
    tolerances: ClassVar[dict[str, Tolerance]] = DEFAULT_TOLERANCES
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules the toolchain needs
    # the format-specific ExportOptions fields this format uses (see export/options.py
    # FORMAT_OPTIONS); one of the others set away from its default is refused
    format_options: ClassVar[tuple[str, ...]] = ()

    def availability(self) -> Availability:
        """Can this backend export and run here? If not, why and how to fix."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            return Availability(False, f"needs {', '.join(missing)}: pip install 'poseexport[{self.extra}]'")
        return Availability(True)

    def export_availability(self) -> Availability:
        """Exporting may be possible where running is not (CoreML on Linux); default: same."""
        return self.availability()

    def check_options(self, options: Any) -> None:
        """Refuse option values this format cannot honour (called before anything is traced)."""

    def export(self, ctx: Any, source: Any, out_dir: Path) -> Artifact:
        """Write the artifact into `out_dir` (a fresh staging folder); `source` is the traced
        model or the upstream artifact named by `self.source`."""
        raise NotImplementedError

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        """Open the artifact; `threads` caps the runtime's CPU threads (None: its default)."""
        raise NotImplementedError

    def sniff(self, path: Path) -> bool:
        """Does this file or folder look like this format (by content, not name)?"""
        return False

    def read_native_metadata(self, path: Path) -> Metadata | None:
        """The metadata stored inside the model file itself (for artifacts without sidecar)."""
        return None

    def main_file_in(self, folder: Path) -> Path:
        """The file a runtime opens inside an artifact folder that has lost its manifest."""
        found = sorted(folder.glob(f"*{self.suffix}")) if self.suffix else []
        if not found:
            raise BadArtifactError(f"{folder} holds no {self.title} model file", "the folder is incomplete",
                                   "pass the model file itself, or re-export")
        return found[0]

    def toolchain_versions(self) -> dict[str, str]:
        versions = {}
        for module in self.requires:
            try:
                versions[module] = getattr(importlib.import_module(module), "__version__", "?")
            except ImportError:
                pass
        return versions


def require(module: str, extra: str):
    """Import an optional toolchain, or raise an error naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"The '{extra}' toolchain is not installed",
            f"importing {module} failed ({err})",
            f"pip install 'poseexport[{extra}]'") from err
