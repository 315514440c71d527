"""Where the TF.js toolchain lives and whether it is complete: the converter's Python environment
and the Node packages of the runner. Neither is installed at run time: both are made once by
`python -m poseexport.backends.tfjs_setup` (see docs/tfjs.md), and each check below names the
one command that makes what is missing.

- The converter's Python: $POSEEXPORT_TFJS_PYTHON (an interpreter with tensorflow and
  tensorflowjs), else the venv the setup makes in <cache>/tfjs-python.
- The runner's Node packages: $POSEEXPORT_TFJS_NODE_DIR (a folder holding node_modules with
  @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm), else <cache>/tfjs-node.
- Node itself: $POSEEXPORT_NODE, else `node` on PATH.
<cache> is poseexport's user cache ($POSEEXPORT_CACHE_DIR, else ~/.cache/poseexport).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from poseexport.contract import Availability
from poseexport.paths import user_cache_dir

PYTHON_ENV = "POSEEXPORT_TFJS_PYTHON"
NODE_DIR_ENV = "POSEEXPORT_TFJS_NODE_DIR"
NODE_ENV = "POSEEXPORT_NODE"
FILES = Path(__file__).resolve().parent / "tfjs_node"  # the runner script, package.json, package-lock.json
RUNNER_SCRIPT = FILES / "run_graph_model.mjs"
REQUIREMENTS = Path(__file__).resolve().parent / "tfjs_requirements.txt"
TENSORFLOWJS = "4.22.0"  # installed --no-deps after REQUIREMENTS
NODE_PACKAGES = ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm")  # pinned in tfjs_node/package.json
MIN_NODE = 18  # global fetch, structured ESM; 20 is what is tested
SETUP = "python -m poseexport.backends.tfjs_setup"
PROBE_TIMEOUT_S = 60.0


def default_python_env() -> Path:
    return user_cache_dir() / "tfjs-python"


def default_node_dir() -> Path:
    return user_cache_dir() / "tfjs-node"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def converter_python() -> Path:
    """The interpreter the TF.js converter runs under."""
    given = os.environ.get(PYTHON_ENV, "").strip()
    return Path(given).expanduser() if given else venv_python(default_python_env())


def python_env_dir() -> Path:
    """The venv holding converter_python() (bin/python or Scripts/python.exe inside it)."""
    return converter_python().parents[1]


def node_dir() -> Path:
    given = os.environ.get(NODE_DIR_ENV, "").strip()
    return Path(given).expanduser() if given else default_node_dir()


def node_program() -> str | None:
    given = os.environ.get(NODE_ENV, "").strip()
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    return shutil.which("node")


def pinned_node_versions() -> dict[str, str]:
    """package -> the exact version tfjs_node/package.json pins."""
    return dict(json.loads((FILES / "package.json").read_text())["dependencies"])


def converter_availability() -> Availability:
    """Can the TF.js converter run (its Python with tensorflow and tensorflowjs)?"""
    python = converter_python()
    where = f"${PYTHON_ENV}={python}" if os.environ.get(PYTHON_ENV, "").strip() else str(python)
    fix = f"make it with `{SETUP} --only python`" + ("" if os.environ.get(PYTHON_ENV, "").strip()
                                                     else f" (or point ${PYTHON_ENV} at one)")
    if not python.is_file():
        return Availability(False, f"exporting needs the TF.js converter's Python environment, and {where} "
                                   f"does not exist: {fix}")
    versions = python_versions(str(python), python.stat().st_mtime)
    if "error" in versions:
        return Availability(False, f"the TF.js converter's Python {where} does not run "
                                   f"({versions['error']}): {fix}")
    missing = [f"{name}=={want}" for name, want in (("tensorflowjs", TENSORFLOWJS), ("tensorflow", None))
               if versions.get(name) is None or (want and versions[name] != want)]
    if missing:
        have = ", ".join(f"{k} {v}" for k, v in versions.items() if v) or "neither"
        return Availability(False, f"the TF.js converter's Python {where} lacks {', '.join(missing)} "
                                   f"(it has {have}): {fix}")
    return Availability(True)


def runner_availability() -> Availability:
    """Can a TF.js artifact run here (Node, and the npm packages installed)?"""
    node = node_program()
    if node is None:
        how = f"${NODE_ENV} names no program" if os.environ.get(NODE_ENV, "").strip() else "node is not on PATH"
        return Availability(False, f"running needs Node.js {MIN_NODE} or newer, and {how}: install Node.js "
                                   f"(https://nodejs.org, or your system's nodejs package), then `{SETUP} --only node`")
    version = node_version(node)
    if version is None or version[0] < MIN_NODE:
        shown = ".".join(map(str, version)) if version else "unknown"
        return Availability(False, f"running needs Node.js {MIN_NODE} or newer, and {node} is version {shown}: "
                                   "install a newer Node.js")
    missing = missing_node_packages(node_dir())
    if missing:
        where = f"${NODE_DIR_ENV}={node_dir()}" if os.environ.get(NODE_DIR_ENV, "").strip() else str(node_dir())
        return Availability(False, f"running needs the npm packages {', '.join(missing)} in {where}: "
                                   f"install them with `{SETUP} --only node`")
    return Availability(True)


def missing_node_packages(folder: Path) -> list[str]:
    """The pinned npm packages absent from folder/node_modules, or there at another version."""
    missing = []
    for name, version in pinned_node_versions().items():
        installed = installed_node_version(folder, name)
        if installed != version:
            missing.append(f"{name}@{version}" + (f" (found {installed})" if installed else ""))
    return missing


def installed_node_version(folder: Path, package: str) -> str | None:
    try:
        return json.loads((folder / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@dataclass(frozen=True)
class NodeToolchain:
    node: str
    packages: Path
    versions: dict[str, str]


def node_toolchain() -> NodeToolchain:
    """The Node program, the packages folder and their versions (call after runner_availability)."""
    node = node_program() or "node"
    version = node_version(node)
    versions = {"node": ".".join(map(str, version)) if version else "?"}
    versions.update({name: installed_node_version(node_dir(), name) or "?" for name in pinned_node_versions()})
    return NodeToolchain(node=node, packages=node_dir(), versions=versions)


@cache
def node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", out.strip())
    return tuple(int(g) for g in found.groups()) if found else None


_VERSIONS_SNIPPET = """
import importlib.metadata as m, json
def v(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
print(json.dumps({"tensorflowjs": v("tensorflowjs"), "tensorflow": v("tensorflow")}))
"""


@cache
def python_versions(python: str, _mtime: float) -> dict[str, str | None]:
    """tensorflowjs and tensorflow as the converter's interpreter sees them (package metadata:
    nothing is imported there); {"error": ...} when it does not run. Cached per file and mtime."""
    try:
        out = subprocess.run([python, "-I", "-c", _VERSIONS_SNIPPET], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as err:
        return {"error": str(err)}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit status {out.returncode}: {tail}"}
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"unreadable answer {out.stdout[:200]!r}"}
