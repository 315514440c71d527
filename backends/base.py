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
from dataclasses import dataclass, field
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

    `score` bounds the raw per-anchor score error. INT8 has none: it moves a person's peak
    score to a neighbouring anchor (one anchor 0.91 -> 0.00, its neighbour 0.36 -> 0.91)
    while the persons after NMS stay the same, so int8 is judged on matched persons
    (`score_drift`, keypoints, match ratio) instead.
    """

    box_px: float  # raw box channels on relevant anchors, pixels of the letterboxed input
    score: float | None  # raw score channels (0..1), every anchor; None: not checked
    kpt_px: float  # raw keypoint coordinates on relevant anchors, pixels
    matched_kpt_px: float  # mean keypoint error of matched persons, pixels
    score_drift: float  # largest score change of a matched person
    min_match_ratio: float = 1.0  # matched persons / reference persons


DEFAULT_TOLERANCES = {
    "fp32": Tolerance(box_px=0.05, score=1e-3, kpt_px=0.05, matched_kpt_px=0.05, score_drift=2e-3),
    "fp16": Tolerance(box_px=2.0, score=0.05, kpt_px=3.0, matched_kpt_px=1.0, score_drift=0.05),
    "bf16": Tolerance(box_px=8.0, score=0.2, kpt_px=8.0, matched_kpt_px=4.0, score_drift=0.1,
                      min_match_ratio=0.8),
    # measured on yolo11n-pose, 5 real images, 13 persons: box 4-12 px, matched keypoints
    # 2.2-2.8 px, score drift 0.03, every person matched (ONNX Runtime QDQ and NNCF)
    "int8": Tolerance(box_px=25.0, score=None, kpt_px=40.0, matched_kpt_px=4.0, score_drift=0.15,
                      min_match_ratio=0.85),
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
