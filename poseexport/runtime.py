"""The unified loader: `poseexport.load(path)` opens any artifact and returns a Runner.

The format is recognised from the artifact's metadata and contents, never from the
file name: a folder with metadata.json names its format; a bare file is offered to
each backend's `sniff()` (e.g. a renamed best.onnx still carries its metadata).

Before anything is opened, an artifact folder is verified (poseexport/manifest.py): every
file its manifest.json lists is hashed once and must match, and a file asked for inside
such a folder must be its model file. A bare model file outside any artifact folder has
nothing to verify against and loads as it is. `verify=False` skips the check (artifacts
edited on purpose).

Then what the artifact needs to run (its metadata's `requirements`: OS, device kind, runtime
versions; poseexport/contract/requirements.py) is checked against this machine before the
runtime is opened; artifacts from before requirements were recorded skip that check.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import manifest as _manifest
from .errors import BadArtifactError
from .metadata import MANIFEST_FILE, METADATA_FILE, Metadata


def load(path: str | Path, device: str = "cpu", threads: int | None = None, verify: bool = True):
    """Open an exported artifact (file or folder) as a Runner with one API for every format;
    with `verify` (the default) its files are first checked against its manifest."""
    from poseexport.contract import Artifact
    from poseexport.contract.registry import get_backend, registered
    from poseexport.contract.requirements import check_requirements

    path = Path(path)
    if not path.exists():
        raise BadArtifactError(f"{path} does not exist", "no file or folder at that path",
                               "check the path (poseexport convert prints where it wrote the artifact)")
    folder = path if path.is_dir() else path.parent
    sidecar = folder / METADATA_FILE
    if verify:
        verify_artifact(folder, path)
    if sidecar.is_file():
        metadata = Metadata.from_json(sidecar.read_text())
        check_requirements(metadata.requirements, path, device)
        main = _main_file(folder, path)
        backend = get_backend(metadata.format)
        return backend.load(Artifact(path=folder, main_file=main, metadata=metadata), device=device, threads=threads)
    if path.exists():  # a bare file, or a folder without sidecar (an OpenVINO xml + bin)
        for backend in _sniffers():
            if backend.sniff(path):
                metadata = backend.read_native_metadata(path)
                check_requirements(metadata.requirements if metadata else None, path, device)
                main = path if path.is_file() else backend.main_file_in(path)
                # the file's own format opens it (an ONNX-based format is sniffed by ONNX too)
                if metadata is not None and metadata.format != backend.name and metadata.format in registered():
                    backend = get_backend(metadata.format)
                return backend.load(Artifact(path=folder, main_file=main, metadata=metadata), device=device, threads=threads)
    raise BadArtifactError(
        f"{path} is not a poseexport artifact",
        "it has no metadata.json beside it and no format recognised its contents",
        "export it with `poseexport convert`, or pass the artifact folder it was written to")


def verify_artifact(folder: Path, asked: Path) -> None:
    """Refuse a modified, incomplete or mixed-up artifact folder (nothing to check: return)."""
    manifest = _manifest.read_manifest(folder)
    if manifest is None:
        if (folder / METADATA_FILE).is_file():
            raise _manifest.incomplete(folder)
        return  # a bare model file, or a folder without sidecars: its metadata is embedded
    if asked.is_file():
        _manifest.check_loaded_file(folder, asked, manifest)
    _manifest.verify_files(folder, manifest)


def is_artifact(path: str | Path) -> bool:
    """True for paths that `load` should open (rather than a PyTorch checkpoint or config)."""
    p = Path(path)
    if p.is_dir():
        return (p / METADATA_FILE).is_file()
    if p.is_file() and p.suffix not in (".pt", ".pth", ".yaml", ".yml"):
        return True
    return p.is_file() and (p.parent / METADATA_FILE).is_file() and p.suffix != ".yaml"


def _main_file(folder: Path, asked: Path) -> Path:
    if asked.is_file():
        return asked
    manifest = folder / MANIFEST_FILE
    if manifest.is_file():
        return folder / json.loads(manifest.read_text())["main"]
    raise BadArtifactError(f"{folder} has no {MANIFEST_FILE}", "the artifact folder is incomplete",
                           "re-export it with poseexport convert")


def _sniffers():
    from poseexport.contract.registry import get_backend, registered

    for name in registered():
        try:
            backend = get_backend(name)
        except ImportError:  # a plugin that cannot import cannot have written this file
            continue
        if backend.availability():
            yield backend
