"""The CPU this process runs on: model name and the x86 ISA features that change int8 arithmetic.

Integer kernels differ by ISA: without VNNI (AVX2, AVX-512 without VNNI) ONNX Runtime's
u8 x s8 products go through VPMADDUBSW, whose int16 pair sums saturate; VNNI and AMX
accumulate in int32. An artifact records the features of the CPU that built it, so a
difference seen on another machine can be traced to the ISA.
"""
from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# the flags that choose ONNX Runtime's / OpenVINO's int8 and bf16 kernels, as Linux names them
ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
UNKNOWN = "unknown"


def cpu_model() -> str:
    """The CPU's marketing name ("unknown" where the OS doesn't say)."""
    if CPUINFO.is_file():
        for line in CPUINFO.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            return out
    return platform.processor() or UNKNOWN


def isa_features(cpuinfo: str | None = None) -> str:
    """The ISA_FLAGS this CPU has, space-separated in ISA_FLAGS order ("none" if it has none
    of them); "unknown" where there is no /proc/cpuinfo (not Linux)."""
    if cpuinfo is None:
        if not CPUINFO.is_file():
            return UNKNOWN
        cpuinfo = CPUINFO.read_text(errors="replace")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                  if line.startswith(("flags", "Features"))), None)
    if flags is None:
        return UNKNOWN
    # older kernels spell AVX-512 VNNI without the underscore
    present = set(flags) | ({"avx512_vnni"} if "avx512vnni" in flags else set())
    return " ".join(f for f in ISA_FLAGS if f in present) or "none"


def describe_cpu() -> dict[str, str]:
    """What an artifact records about the CPU that built it."""
    return {"model": cpu_model(), "machine": platform.machine() or UNKNOWN, "isa": isa_features()}
