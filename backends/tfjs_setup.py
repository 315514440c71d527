"""`python -m poseexport.backends.tfjs_setup`: make the TF.js toolchain, once, on purpose.

    python -m poseexport.backends.tfjs_setup                # both parts, in the default places
    python -m poseexport.backends.tfjs_setup --only python --python-env DIR
    python -m poseexport.backends.tfjs_setup --only node --node-dir DIR

Without --python-env / --node-dir it makes the places poseexport looks in: those
$POSEEXPORT_TFJS_PYTHON (its venv) and $POSEEXPORT_TFJS_NODE_DIR name, else the defaults below.

- python: a venv (default <cache>/tfjs-python) with TensorFlow and its dependencies pinned
  (tfjs_requirements.txt), then tensorflowjs 4.22.0 with --no-deps: its declared dependencies
  cannot share an environment with TensorFlow 2.21. Made from this interpreter.
- node: the npm packages of the runner (default <cache>/tfjs-node), `npm ci` from the
  package-lock.json shipped beside the runner script, install scripts off.
Both need the network (PyPI, the npm registry) and are the only steps that do: export and run
never install anything. Running it again is quick: a part whose stamp file says it was made
from the same pins is left as it is. A folder this command did not make is never changed.
Point poseexport at a folder elsewhere with $POSEEXPORT_TFJS_PYTHON (the venv's python) and
$POSEEXPORT_TFJS_NODE_DIR.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from . import tfjs_env as env

STAMP = "poseexport-tfjs.json"  # written last into each folder this command makes


class SetupError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=env.SETUP, description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("python", "node"), help="make one part only")
    parser.add_argument("--python-env", type=Path, default=None,
                        help=f"the converter's venv (default: the one ${env.PYTHON_ENV} names, else "
                             f"{env.default_python_env()}); set ${env.PYTHON_ENV} to its python when not the default")
    parser.add_argument("--node-dir", type=Path, default=None,
                        help=f"the runner's npm packages (default: ${env.NODE_DIR_ENV}, else "
                             f"{env.default_node_dir()}); set ${env.NODE_DIR_ENV} to it when not the default")
    args = parser.parse_args(argv)
    try:
        if args.only in (None, "python"):
            venv = (args.python_env or env.python_env_dir()).expanduser().resolve()
            make_python_env(venv)
            print(f"TF.js converter environment: {env.venv_python(venv)}")
        if args.only in (None, "node"):
            folder = (args.node_dir or env.node_dir()).expanduser().resolve()
            make_node_packages(folder)
            print(f"TF.js runner packages: {folder / 'node_modules'}")
    except SetupError as err:
        print(f"{env.SETUP}: error: {err}", file=sys.stderr)
        return 2
    return 0


def python_pins() -> str:
    return f"{env.REQUIREMENTS.read_text()}\ntensorflowjs=={env.TENSORFLOWJS} --no-deps\n"


def node_pins() -> str:
    return (env.FILES / "package-lock.json").read_text()


def make_python_env(venv: Path) -> None:
    pins = python_pins()
    if _stamp_matches(venv, pins):
        return
    _refuse_foreign(venv)
    _claim(venv)
    python = env.venv_python(venv)
    if not python.is_file():
        _run([sys.executable, "-m", "venv", str(venv)], "creating the venv")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-r", str(env.REQUIREMENTS)], "installing TensorFlow into it")
    _run([*pip, "--no-deps", f"tensorflowjs=={env.TENSORFLOWJS}"], "installing tensorflowjs into it")
    _write_stamp(venv, pins)


def make_node_packages(folder: Path) -> None:
    pins = node_pins()
    if _stamp_matches(folder, pins) and not env.missing_node_packages(folder):
        return
    _refuse_foreign(folder)
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("npm is not on PATH: install Node.js (it brings npm), then run this again")
    _claim(folder)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(env.FILES / name, folder / name)
    _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev"], "installing the npm packages",
         cwd=folder)
    _write_stamp(folder, pins)


def _digest(pins: str) -> str:
    return hashlib.sha256(pins.encode()).hexdigest()


def _stamp_matches(folder: Path, pins: str) -> bool:
    try:
        return json.loads((folder / STAMP).read_text()).get("pins_sha256") == _digest(pins)
    except (OSError, ValueError, AttributeError):
        return False


def _refuse_foreign(folder: Path) -> None:
    """A folder that exists, is not empty and was not made by this command is left alone."""
    if folder.exists() and any(folder.iterdir()) and not (folder / STAMP).is_file():
        raise SetupError(f"{folder} exists and was not made by this command, so it is left as it is: "
                         "choose another folder (--python-env / --node-dir), or remove it yourself")


def _claim(folder: Path) -> None:
    """Mark the folder as this command's before filling it: a run that fails half-way can be
    repeated (its stamp names no pins yet, so the part is made again)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / STAMP).is_file():
        (folder / STAMP).write_text(json.dumps({"made_by": env.SETUP, "pins_sha256": None}, indent=2))


def _write_stamp(folder: Path, pins: str) -> None:
    (folder / STAMP).write_text(json.dumps({"made_by": env.SETUP, "pins_sha256": _digest(pins)}, indent=2))


def _run(command: list[str], doing: str, cwd: Path | None = None) -> None:
    print(f"{doing}: {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=cwd)
    if done.returncode != 0:
        raise SetupError(f"{doing} failed (exit status {done.returncode}; its output is above)")


if __name__ == "__main__":
    sys.exit(main())
