"""`python -m poseexport.contract.converter_worker REQUEST.json`: the child side of run_converter.

Imports the converter function named in the request ("package.module:function"), calls it
with the request dict and writes what it returns as JSON to the result path. A converter that
raises leaves where it raised and what (the last FRAMES frames of its own code, then the
exception) on stderr, its one-line summary in the error file, and the exit status 1, all of
which the parent reports.
Imports neither torch nor any toolchain itself: only what the converter's module imports.
Under another interpreter (run_converter's `python=`) the request's `package_dirs` says where
poseexport's packages are: the worker finds exactly those there (PackageDirFinder), everything
else in its own environment. There it is started as a script (`python .../converter_worker.py
REQUEST.json`: poseexport is not installed), so this file imports nothing but the standard library.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

PARENT_POLL_S = 0.5
FRAMES = 6  # of the converter's stack, printed when it raises


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m poseexport.contract.converter_worker REQUEST.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    _die_with_parent(int(spec["parent_pid"]))
    if spec.get("package_dirs"):
        sys.meta_path.insert(0, PackageDirFinder(spec["package_dirs"]))
    module, _, function = spec["target"].partition(":")
    convert = getattr(importlib.import_module(module), function)
    try:
        result = convert(spec["request"])
    except Exception as err:
        print(_where_raised(err), file=sys.stderr)
        Path(spec["error"]).write_text(f"{type(err).__name__}: {err}".splitlines()[0][:500])
        return 1
    result_path = Path(spec["result"])
    partial = result_path.with_name(result_path.name + ".partial")
    partial.write_text(json.dumps(result, indent=2))
    os.replace(partial, result_path)  # the parent never reads half a result
    return 0


class PackageDirFinder(importlib.abc.MetaPathFinder):
    """Finds the named packages (name -> folders) there, and nothing else: their submodules are
    then found by the normal machinery through each package's __path__."""

    def __init__(self, package_dirs: dict[str, list[str]]):
        self.package_dirs = package_dirs

    def find_spec(self, fullname, path=None, target=None):
        dirs = self.package_dirs.get(fullname)
        if not dirs:
            return None
        return importlib.util.spec_from_file_location(fullname, str(Path(dirs[0]) / "__init__.py"),
                                                      submodule_search_locations=list(dirs))


def _where_raised(err: BaseException) -> str:
    """The converter's frames (not this module's), innermost last, then the exception: a
    traceback in a shape the CLI may print (a user sees a traceback only for our own bugs)."""
    frames = traceback.extract_tb(err.__traceback__)[1:][-FRAMES:]
    lines = [f"  at {Path(f.filename).name}:{f.lineno} in {f.name}: {(f.line or '').strip()}" for f in frames]
    return "\n".join(["the converter raised:", *lines, *traceback.format_exception_only(type(err), err)]).rstrip()


def _die_with_parent(parent: int) -> None:
    """If the parent dies without stopping us (it was SIGKILLed), kill our whole group: the
    converter and everything it started. Our group is our own (start_new_session)."""
    if os.name != "posix":
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    # run as a script (another interpreter), this folder leads sys.path: its modules must not
    # shadow anything the converter imports (a toolchain's own `backend` or `tensors`)
    _here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if not p or str(Path(p).resolve()) != _here]
    sys.exit(main(sys.argv[1:]))
