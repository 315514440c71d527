"""Where a benchmark ran: host, CPU model, memory, GPU, toolchain versions (without importing them)."""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ..cpu import cpu_model, isa_features
from .measure import all_cores

PACKAGES = ("poseexport", "torch", "numpy", "onnx", "onnxruntime", "onnxslim", "openvino", "nncf",
            "opencv-python-headless", "coremltools", "tensorrt")


def describe_host() -> dict:
    return {"hostname": platform.node(), "system": platform.system(), "release": platform.release(),
            "machine": platform.machine(), "python": sys.version.split()[0], "cpu": cpu_model(),
            "isa": isa_features(),
            "cores": all_cores(), "memory_gb": memory_gb(), "gpu": gpu_names(),
            "label": f"{platform.system()}-{platform.machine()}"}


def toolchain_versions() -> dict:
    """Installed versions of the packages that matter to the figures (missing ones left out)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def memory_gb() -> float | None:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    if sys.platform == "darwin":
        out = _run(["sysctl", "-n", "hw.memsize"])
        return round(int(out) / 1024 ** 3, 1) if out and out.isdigit() else None
    return None


def gpu_names() -> list[str]:
    """NVIDIA GPUs as nvidia-smi names them (no GPU, or no driver: empty)."""
    if not shutil.which("nvidia-smi"):
        return []
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    return [line.strip() for line in out.splitlines() if line.strip()] if out else []


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
