"""What an artifact needs to run — OS, device kind, runtime package versions — recorded in its
metadata at export (from the backend's declarations) and checked by `poseexport.load` before
the runtime is opened, so a CoreML model on Linux or an artifact built with a newer ONNX
Runtime fails with what it needs and how to get it, not with a runtime's traceback.

`this_machine()` is the one place that says what this machine is (tests simulate a target
machine by replacing it). Versions come from package metadata: nothing here imports a runtime.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from poseexport.device import parse_device
from poseexport.errors import BadArtifactError, RequirementsNotMetError
from poseexport.metadata import Requirements

from .capabilities import Availability
from .versions import check_range, installed_version, release_of, satisfies

OS_TITLES = {"linux": "Linux", "darwin": "macOS", "windows": "Windows"}
DEVICE_TITLES = {"cpu": "CPU", "cuda": "CUDA GPU"}


@dataclass(frozen=True)
class Machine:
    os: str  # linux | darwin | windows (else sys.platform as is)
    devices: tuple[str, ...]  # device kinds present: cpu, and cuda where an NVIDIA driver is loaded


@dataclass(frozen=True)
class Unmet:
    need: str  # what the artifact needs ("macOS")
    have: str  # what this machine has ("runs Linux")
    fix: str  # how to get it ("run it on macOS")


def this_machine() -> Machine:
    """This machine's OS and device kinds (a driver's traces, no runtime imported)."""
    return Machine(os=os_name(sys.platform), devices=("cpu", "cuda") if _has_nvidia_driver() else ("cpu",))


def os_name(platform: str) -> str:
    """sys.platform -> the names Capabilities.runs_on uses ('win32' -> 'windows')."""
    if platform.startswith(("win", "cygwin")):
        return "windows"
    return next((name for name in ("linux", "darwin") if platform.startswith(name)), platform)


def _has_nvidia_driver() -> bool:
    return (any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version"))
            or shutil.which("nvidia-smi") is not None)


def requirements_of(backend) -> Requirements:
    """What an artifact of `backend` will need, from its declarations: `capabilities.runs_on`,
    `capabilities.devices`, `runtime_versions` (None: at least the version installed now, the
    one the artifact is validated with; not installed here: any version)."""
    packages = {}
    for distribution, spec in backend.runtime_versions.items():
        if spec is None:
            version = installed_version(distribution)
            spec = f">={release_of(version)}" if version else ""
        packages[distribution] = spec
    caps = backend.capabilities
    return Requirements(os=tuple(caps.runs_on), devices=tuple(caps.devices), packages=packages)


def unmet(requirements: Requirements | None, device: str | None = None,
          machine: Machine | None = None) -> list[Unmet]:
    """Every requirement this machine misses; `device` is the one asked for (None: any of the
    artifact's). Whether the asked device really works (which GPU, which provider) is the
    runtime's own check, which knows more: here only its kind is compared."""
    if requirements is None:  # written before requirements were recorded
        return []
    machine = machine or this_machine()
    problems = []
    if machine.os not in requirements.os:
        wanted = _either(OS_TITLES.get(o, o) for o in requirements.os)
        problems.append(Unmet(wanted, f"runs {OS_TITLES.get(machine.os, machine.os)}", f"run it on {wanted}"))
    problems += _device_problems(requirements.devices, device, machine)
    for distribution, spec in requirements.packages.items():
        problems += _package_problems(distribution, spec)
    return problems


def _device_problems(devices: tuple[str, ...], device: str | None, machine: Machine) -> list[Unmet]:
    wanted = _either(DEVICE_TITLES.get(d, d) for d in devices)
    present = [d for d in devices if d in machine.devices]
    if not present:
        has = ", ".join(DEVICE_TITLES.get(d, d) for d in machine.devices)
        return [Unmet(f"a {wanted}", f"has {has} only", f"run it on a machine with a {wanted}")]
    asked = parse_device(device).kind if device is not None else None
    if asked is not None and asked not in devices:
        return [Unmet(f"a {wanted}", f"was asked to run it on {device}", f"pass --device {present[0]}")]
    return []


def _package_problems(distribution: str, spec: str) -> list[Unmet]:
    try:
        check_range(spec)
    except ValueError as err:
        raise BadArtifactError(f"The artifact's requirement '{distribution}{spec}' cannot be read", str(err),
                               "re-export it with poseexport convert") from err
    need = f"{distribution}{spec}"
    version = installed_version(distribution)
    if version is None:
        return [Unmet(need, f"has no {distribution} installed", f"pip install '{need}'")]
    try:
        ok = satisfies(version, spec)
    except ValueError:  # an installed version we cannot parse: let the runtime try
        return []
    return [] if ok else [Unmet(need, f"has {distribution} {version}", f"pip install '{need}'")]


def check_requirements(requirements: Requirements | None, where, device: str | None = None) -> None:
    """Refuse, before any runtime is opened, an artifact this machine cannot run: every unmet
    requirement is named, with what this machine has and how to fix it."""
    problems = unmet(requirements, device)
    if not problems:
        return
    machine = this_machine()
    raise RequirementsNotMetError(
        f"{where} cannot run on this machine",
        "; ".join(f"it needs {p.need}, and this machine {p.have}" for p in problems),
        "; ".join(dict.fromkeys(p.fix for p in problems)),
        context=[f"the artifact needs: {describe(requirements)}",
                 f"this machine: {OS_TITLES.get(machine.os, machine.os)}, "
                 f"{', '.join(DEVICE_TITLES.get(d, d) for d in machine.devices)}"])


def availability_here(backend) -> Availability:
    """Can artifacts of `backend` run on this machine (OS, a device, runtime versions)?"""
    problems = unmet(requirements_of(backend))
    if not problems:
        return Availability(True)
    return Availability(False, "; ".join(f"needs {p.need}, this machine {p.have}: {p.fix}" for p in problems))


def why_not_runnable_here(backend, metadata) -> str:
    """Why an artifact of `backend` with `metadata` cannot run on this machine ("" if it can):
    the backend's own availability (its runtime installed?) and the recorded requirements."""
    available = backend.availability()
    if not available:
        return available.reason
    return "; ".join(f"it needs {p.need}, and this machine {p.have}" for p in unmet(metadata.requirements))


def describe(requirements: Requirements) -> str:
    """'Linux or macOS; CPU or CUDA GPU; onnxruntime>=1.32.0'"""
    parts = [_either(OS_TITLES.get(o, o) for o in requirements.os),
             _either(DEVICE_TITLES.get(d, d) for d in requirements.devices)]
    parts += [f"{name}{spec}" if spec else f"{name} (any version)" for name, spec in requirements.packages.items()]
    return "; ".join(parts)


def _either(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
