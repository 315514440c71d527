"""manifest.json: the sha256 of every file an export wrote, and the checks that read it.

`write_manifest` is called once per export, after the last file of the staging folder is
written. `verify_files` is what `poseexport.load` runs before opening an artifact (every
listed file present and unchanged), and `--out` uses the same manifest to decide that a
folder is an artifact poseexport wrote and may replace (export/output_dir.py).

The manifest is an integrity check, not a signature: it catches a truncated copy, an edited
weight or metadata file and a missing file; whoever edits the manifest as well can fool it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import BadArtifactError
from .metadata import MANIFEST_FILE, METADATA_FILE
from .weights import sha256_file

DIGEST_PREFIX = 12  # characters of a sha256 shown in messages
NO_VERIFY_HINT = "to load a folder you edited on purpose, pass --no-verify (Python: verify=False)"


@dataclass(frozen=True)
class Manifest:
    main: str  # the file (relative, POSIX) the runtime opens
    format: str
    files: dict[str, str]  # relative POSIX path -> sha256, metadata.json included
    raw: dict  # the whole parsed JSON (golden entry, ...)


def write_manifest(folder: Path, main: Path, fmt: str, extra: dict | None = None) -> None:
    """Hash every file in `folder` (the manifest itself aside) into manifest.json."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != MANIFEST_FILE}
    manifest = {"main": PurePosixPath(main).as_posix(), "format": fmt, "files": files, **(extra or {})}
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest; None when it has none; BadArtifactError when it is unreadable."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        files = raw["files"]
        if not isinstance(raw, dict) or not isinstance(files, dict) or not files:
            raise TypeError("'files' must be a non-empty mapping of file -> sha256")
        if not all(_is_inside(name) and isinstance(digest, str) for name, digest in files.items()):
            raise ValueError("a listed file lies outside the folder, or has no sha256")
        manifest = Manifest(main=str(raw["main"]), format=str(raw["format"]), files=dict(files), raw=raw)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise BadArtifactError(f"The manifest {path} cannot be read", f"it is not a poseexport manifest ({err})",
                               "copy the artifact folder again, or re-export it with poseexport convert") from err
    if manifest.main not in files and not any(n.startswith(manifest.main.rstrip("/") + "/") for n in files):
        raise BadArtifactError(f"The manifest {path} cannot be read", f"its main file '{manifest.main}' is not among its files",
                               "copy the artifact folder again, or re-export it with poseexport convert")
    return manifest


def problems(folder: Path, manifest: Manifest) -> list[str]:
    """One line per listed file that is missing or whose content changed (empty: all as written)."""
    found = []
    for name, expected in manifest.files.items():
        path = folder / name
        if not path.is_file():
            found.append(f"{name} is missing (the manifest lists it)")
            continue
        actual = sha256_file(path)
        if actual != expected:
            found.append(f"{name} was modified (sha256 expected {expected[:DIGEST_PREFIX]}…, "
                         f"found {actual[:DIGEST_PREFIX]}…)")
    return found


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Hash every listed file once; refuse the artifact naming each file that is missing or changed."""
    found = problems(folder, manifest)
    if found:
        raise BadArtifactError(
            f"The artifact {folder} is not as poseexport wrote it: {found[0]}",
            "every file is checked against the sha256 in its manifest.json before use, so a truncated "
            "copy or an edited file cannot give wrong results silently"
            + (f" ({len(found)} files differ)" if len(found) > 1 else ""),
            f"copy the whole folder again or re-export it; {NO_VERIFY_HINT}",
            found[1:6] + ([f"… and {len(found) - 6} more"] if len(found) > 6 else []))


def check_loaded_file(folder: Path, asked: Path, manifest: Manifest) -> None:
    """A file asked for inside an artifact folder must be that artifact's model file."""
    name = asked.relative_to(folder).as_posix()
    if name == manifest.main:
        return
    if name in manifest.files:
        why = f"it is part of the artifact, but its manifest names {manifest.main} as the model file"
    else:
        why = (f"it is not listed in the manifest of the artifact in {folder} (a renamed or added file), "
               f"whose model file is {manifest.main}")
    raise BadArtifactError(f"The file {asked} is not the model file of the artifact it sits in", why,
                           f"pass the folder {folder} (or {folder / manifest.main}); to load a file on its own, "
                           f"move it out of the artifact folder; {NO_VERIFY_HINT}")


def incomplete(folder: Path) -> BadArtifactError:
    """A folder with metadata.json but no manifest.json cannot be checked."""
    return BadArtifactError(f"The artifact {folder} has {METADATA_FILE} but no {MANIFEST_FILE}",
                            "the folder is incomplete, and without its manifest its files cannot be checked",
                            f"copy the whole artifact folder again or re-export it; {NO_VERIFY_HINT}")


def _is_inside(name: object) -> bool:
    if not isinstance(name, str) or not name:
        return False
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts and "\\" not in name
