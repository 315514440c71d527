"""The backend contract: one class per export format.

A backend declares what it needs (`source`: "graph" for the traced PyTorch program, another
backend's name such as "onnx" for its fp32 artifact, or a `Source` with a precision and options,
see source.py), what it can do (`capabilities`), whether
it can run here (`availability()`), and implements `export()` and `load()`. It never
calls another backend: the pipeline builds the declared source and hands it over.
Backends don't time themselves; benchmarks time `Runner.forward` (which calls `infer`) from outside.
"""
from __future__ import annotations

import importlib
import importlib.util
import shutil
from pathlib import Path
from typing import Any, ClassVar

from poseexport.errors import BadArtifactError, MissingDependencyError
from poseexport.metadata import Metadata

from .artifact import Artifact, Runner
from .capabilities import Availability, Capabilities
from .format_option import FormatOption
from .source import Source
from .tolerance import DEFAULT_TOLERANCES, Tolerance
from .versions import module_version


class OnlySourceBuilt(Exception):
    """Raised by `export` when the format's own step cannot run here (its compiler is missing) but
    the source it would be built from was made and validated: the pipeline then installs that
    source as the result (a complete artifact of the source's format) and exits with an error that
    says what was written and how to finish. `why` / `fix`: what is missing, how to get it."""

    def __init__(self, source: Artifact, why: str, fix: str):
        super().__init__(why)
        self.source, self.why, self.fix = source, why, fix


class Backend:
    """Base class of a format plugin. Subclasses set the class attributes and override."""

    name: ClassVar[str]
    title: ClassVar[str]
    extra: ClassVar[str | None] = None  # pip extra that provides the toolchain
    run_extra: ClassVar[str | None] = None  # a smaller extra with the runtime alone (default: extra)
    source: ClassVar[str | Source] = "graph"
    suffix: ClassVar[str]  # main file suffix, or "" for a folder
    capabilities: ClassVar[Capabilities] = Capabilities()
    tolerances: ClassVar[dict[str, Tolerance]] = DEFAULT_TOLERANCES
    # what the format needs, checked without importing anything: top-level Python modules to
    # export, top-level Python modules to load and run an artifact, and the external programs
    # the export calls (found on PATH) -> how to install each one
    export_requires: ClassVar[tuple[str, ...]] = ()
    run_requires: ClassVar[tuple[str, ...]] = ()
    binaries: ClassVar[dict[str, str]] = {}
    # the longest a converter run out of process (contract/converter_process.py) may take
    convert_timeout_s: ClassVar[float] = 1800.0
    # pip distributions the runner needs -> the version range it runs with ({"onnxruntime": ">=1.20"});
    # None: at least the version installed at export, the one the artifact is validated with
    runtime_versions: ClassVar[dict[str, str | None]] = {}
    # the options that belong to this format (the CLI's flags and model.export's keywords are
    # built from them); an option the format does not declare is refused before any work
    options: ClassVar[tuple[FormatOption, ...]] = ()
    # do the model files themselves carry the metadata (read_native_metadata)? False for a format
    # without a slot for it (NCNN): such an artifact is opened through its metadata.json only
    native_metadata: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "requires" in vars(cls):  # a plugin written for the first contract would be unchecked
            raise TypeError(f"{cls.__name__} declares 'requires', which was split: declare export_requires "
                            "(modules to export) and run_requires (modules to load and run) instead")

    def availability(self) -> Availability:
        """Can artifacts of this format be loaded and run here? If not, why and how to fix."""
        return _missing(self.run_requires, {}, self.run_extra or self.extra, "running")

    def export_availability(self) -> Availability:
        """Can this format be exported here (modules and programs; running is `availability`)?"""
        return _missing(self.export_requires, self.binaries, self.extra, "exporting")

    def default_decode(self, options: Any) -> str:
        """--decode when the user gives none: "graph" where the format offers it. A format whose
        quantised kinds lose the pose with the decode in the graph answers "host" for those."""
        offered = self.capabilities.decode
        return "graph" if "graph" in offered else offered[0]

    def export_note(self) -> str | None:
        """What an export here cannot finish although it runs (a compiler that is missing: the
        export then stops at its validated source); None when it can do everything."""
        return None

    def converter_timeout_s(self) -> float:
        """`convert_timeout_s`, unless the user set POSEEXPORT_CONVERT_TIMEOUT_S."""
        from .converter_process import converter_timeout_s

        return converter_timeout_s(self.convert_timeout_s)

    def needs_calibration(self, options: Any) -> bool:
        """Does this export need calibration images (--data)? int8 does, unless the format's int8
        quantises stored weights only (TF.js uint8 weights): then nothing is calibrated."""
        return bool(options.int8)

    def check_options(self, options: Any) -> None:
        """Refuse option values this format cannot honour beyond their declared type and
        choices, e.g. an opset out of range (called before anything is traced)."""

    def export(self, ctx: Any, source: Any, out_dir: Path) -> Artifact:
        """Write the artifact into `out_dir` (a fresh staging folder); `source` is the traced
        model or the upstream artifact named by `self.source`."""
        raise NotImplementedError

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        """Open the artifact; `threads` caps the runtime's CPU threads (None: its default)."""
        raise NotImplementedError

    def sniff(self, path: Path) -> bool:
        """Does this file or folder look like this format (by content, not name)? By default: it
        carries this format's native metadata. Sniffing asks every format in turn, so a file of
        another format, or an unreadable one, is simply not this format here (load() names it)."""
        try:
            return self.read_native_metadata(path) is not None
        except Exception:  # noqa: BLE001 - any failure to read means "not recognised"
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
        """module -> installed version of every declared module, read from package metadata
        (nothing is imported: a toolchain such as TensorFlow never loads into this process)."""
        versions = {}
        for module in dict.fromkeys((*self.export_requires, *self.run_requires)):
            version = module_version(module)
            if version is not None:
                versions[module] = version
        return versions


def _missing(modules: tuple[str, ...], binaries: dict[str, str], extra: str | None, doing: str) -> Availability:
    """Every missing module and program named, each with its fix."""
    lost = [m for m in modules if importlib.util.find_spec(m) is None]
    parts = []
    if lost:
        fix = f"pip install 'poseexport[{extra}]'" if extra else f"pip install {' '.join(lost)}"
        parts.append(f"{doing} needs the Python module{'s' if len(lost) > 1 else ''} {', '.join(lost)}: {fix}")
    for program, how in binaries.items():
        if shutil.which(program) is None:
            parts.append(f"{doing} needs the program {program} on PATH: {how}")
    return Availability(False, "; ".join(parts)) if parts else Availability(True)


def require(module: str, extra: str):
    """Import an optional toolchain, or raise an error naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"The '{extra}' toolchain is not installed",
            f"importing {module} failed ({err})",
            f"pip install 'poseexport[{extra}]'") from err
