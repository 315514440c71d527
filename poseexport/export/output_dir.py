"""Where an export may write, checked before any work starts, and the swap into place.

Rules (why: never delete or overwrite anything poseexport did not create):
- a missing --out is created (with its missing parents, removed again if the export fails);
- an empty folder may be used (there is nothing in it to lose);
- an existing folder is replaced only when it is an artifact poseexport wrote: its
  manifest.json parses, and every file in the folder is one the manifest lists (or the
  manifest itself), unchanged. A folder with one extra file is refused too — that file is
  the user's (notes, a hand-tuned copy), and replacing the folder would delete it; so is an
  artifact whose files were edited after export (the edit is the user's work);
- a FILE at --out, and a parent folder that cannot be written, are refused.

The export works in `.poseexport-work-*` inside the parent (same filesystem, so the final
moves are renames). Replacing: the old artifact is moved aside into that work folder, the new
one moved in, and the old one deleted only then; a failure in between moves it back. The two
moves run with SIGINT/SIGTERM held, so a Ctrl-C lands before them (the previous state stays)
or after them (the new artifact is complete) — never between. They are held by Python-level
handlers, not a thread signal mask: a process-directed signal goes to any thread that does
not block it (ONNX Runtime and torch run worker threads), and its Python handler then runs in
the main thread anyway.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadArtifactError, UnsupportedOptionError
from ..manifest import problems, read_manifest
from ..metadata import MANIFEST_FILE, METADATA_FILE

WORK_PREFIX = ".poseexport-work-"
SHOWN = 5  # entries of a refused folder named in the message
FIX = "choose another --out (a new or empty folder), or empty or remove {path} yourself"


@dataclass
class OutputTarget:
    """The final folder, how to name it in messages, the work folder, and what we created."""

    final: Path
    label: str  # "--out PATH" or "the default output folder PATH (--out)"
    work: Path
    created: list[Path] = field(default_factory=list)  # parent folders this export made


def prepare_output(final: Path, label: str) -> OutputTarget:
    """Refuse an unusable --out now; make the parents and the work folder (proving we can write)."""
    check_replaceable(final, label)
    with signals_deferred():  # a Ctrl-C now must not leave a work folder nobody removes
        created = _make_parents(final.parent, label)
        try:
            work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=final.parent))
        except OSError as err:
            _remove_created(created)
            raise UnsupportedOptionError(f"{label} cannot be written",
                                         f"creating a work folder in {final.parent} failed ({err.strerror or err})",
                                         "choose an --out in a folder you can write to") from err
        return OutputTarget(final=final, label=label, work=work, created=created)


def check_replaceable(final: Path, label: str) -> None:
    """Raise unless `final` is absent, an empty folder, or an unchanged poseexport artifact."""
    if not final.exists() and not final.is_symlink():
        return
    fix = FIX.format(path=final)
    if final.is_symlink() or not final.is_dir():
        raise UnsupportedOptionError(f"{label} is an existing file, not a folder",
                                     "an artifact is a folder, and poseexport never overwrites a file it did not write",
                                     f"choose another --out (a new or empty folder), or remove {final} yourself")
    entries = sorted(p.name for p in final.iterdir())
    if not entries:
        return
    try:
        manifest = read_manifest(final)
    except BadArtifactError as err:
        manifest, unreadable = None, err.why
    else:
        unreadable = ""
    if manifest is None:
        raise UnsupportedOptionError(
            f"{label} is a folder that poseexport did not write",
            f"it holds {_listing(entries)}, and " + (unreadable if unreadable else f"no {MANIFEST_FILE}")
            + "; poseexport replaces only an artifact folder it wrote itself, so nothing was touched", fix)
    extra = _unlisted(final, set(manifest.files) | {MANIFEST_FILE, METADATA_FILE})
    if extra:
        raise UnsupportedOptionError(
            f"{label} holds files that are not part of the artifact there",
            f"the folder also holds {_listing(extra)}, which {'is' if len(extra) == 1 else 'are'} not listed in "
            f"its {MANIFEST_FILE}, and replacing the folder would delete {'it' if len(extra) == 1 else 'them'}; "
            "nothing was touched", fix)
    edited = [line for line in problems(final, manifest) if "was modified" in line]
    if edited:
        raise UnsupportedOptionError(
            f"{label} is an artifact that was edited after export",
            f"in it, {edited[0]}; replacing it would lose that edit, so nothing was touched", fix, edited[1:SHOWN])


def install(target: OutputTarget, staging: Path) -> None:
    """Move the finished staging folder to the final path, replacing (and then deleting) the old one."""
    check_replaceable(target.final, target.label)  # again: the folder may have changed meanwhile
    aside = _aside(target)
    with signals_deferred():
        try:
            if target.final.exists():
                move(target.final, aside)
            move(staging, target.final)
        except BaseException:
            _restore_previous(target)
            raise
        shutil.rmtree(aside, ignore_errors=True)


def cleanup(target: OutputTarget, installed: bool) -> None:
    """Delete the work folder (after putting back a previous artifact still set aside in it);
    when nothing was installed, also the parents this export created."""
    with signals_deferred():
        _restore_previous(target)
        shutil.rmtree(target.work, ignore_errors=True)
        if not installed:
            _remove_created(target.created)


def move(src: Path, dst: Path) -> None:
    """A rename within one filesystem (both paths share the parent folder)."""
    os.replace(src, dst)


@contextmanager
def signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to the handlers they had
    (main thread only: elsewhere Python cannot set handlers, and this is a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    names = [s for s in ("SIGINT", "SIGTERM") if hasattr(signal, s)]
    previous = {sig: signal.signal(sig, lambda signum, _frame: held.append(signum))
                for sig in (getattr(signal, n) for n in names)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)  # Ctrl-C -> KeyboardInterrupt, now that the block is done


def _aside(target: OutputTarget) -> Path:
    return target.work / "previous"


def _restore_previous(target: OutputTarget) -> None:
    """Put a previous artifact that was moved aside back, unless a new one took its place."""
    aside = _aside(target)
    if aside.exists() and not target.final.exists():
        move(aside, target.final)


def _make_parents(parent: Path, label: str) -> list[Path]:
    missing = []
    existing = parent
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise UnsupportedOptionError(f"{label} cannot be created", f"the path {existing} is a file, not a folder",
                                     "choose an --out whose parent folders are folders")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UnsupportedOptionError(f"{label} cannot be created", f"the folder {existing} is not writable",
                                     "choose an --out in a folder you can write to")
    created = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
    except OSError as err:
        _remove_created(created)
        raise UnsupportedOptionError(f"{label} cannot be created", f"making {folder} failed ({err.strerror or err})",
                                     "choose an --out in a folder you can write to") from err
    return created


def _remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()  # only while empty: never more than this export made
        except OSError:
            break


def _unlisted(folder: Path, listed: set[str]) -> list[str]:
    """Every entry under `folder` (relative, POSIX) that is neither a listed file nor a folder of one."""
    dirs = {part for name in listed for part in _parents(name)}
    extra = []
    for root, subdirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        for name in subdirs:
            rel = (rel_root / name).as_posix()
            if rel not in dirs or (Path(root) / name).is_symlink():
                extra.append(rel + "/")
        subdirs[:] = [d for d in subdirs if (rel_root / d).as_posix() in dirs]
        for name in files:
            rel = (rel_root / name).as_posix()
            if rel not in listed or (Path(root) / name).is_symlink():
                extra.append(rel)
    return sorted(extra)


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
