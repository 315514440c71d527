"""Refuse an inference size that cannot fit in memory, up front, with the estimate.

`--imgsz 100000` otherwise fails deep in OpenCV (a 30 GB letterbox allocation) or gets the
process killed. The estimate is a lower bound: BYTES_PER_PIXEL is what yolo11n-pose, the
smallest real network, needs per input pixel in a PyTorch CPU forward (peak RSS grew by
80 MB from 640x640 to 1280x1280 = 68 B/px; Xeon, torch 2.13), plus the uint8 letterbox and
the float32 input; larger networks need more. Shared by predict, val and (if it wants)
convert.
"""
from __future__ import annotations

import os

from ..errors import UnsupportedOptionError

BYTES_PER_PIXEL = 64 + 3 + 12  # activations + letterboxed uint8 image + float32 input


def estimated_bytes(imgsz: int | tuple[int, int], batch: int = 1) -> int:
    """Lower bound of the memory one inference call at `imgsz` with `batch` images needs."""
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
    return int(h) * int(w) * int(batch) * BYTES_PER_PIXEL


def available_bytes() -> int | None:
    """Memory available to a new allocation (Linux MemAvailable, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return physical_bytes()


def physical_bytes() -> int | None:
    """This machine's physical memory (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits_in_memory(imgsz: int | tuple[int, int], batch: int = 1, stride: int = 32,
                         what: str = "--imgsz") -> None:
    """Raise UnsupportedOptionError when `imgsz` x `batch` certainly does not fit."""
    need, have = estimated_bytes(imgsz, batch), available_bytes()
    if have is None or need <= have:
        return
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    largest = int((have / (batch * BYTES_PER_PIXEL)) ** 0.5) // stride * stride
    raise UnsupportedOptionError(
        f"Image size {h}x{w} does not fit in memory",
        f"one inference call of {batch} image(s) needs at least {_gb(need)} "
        f"({BYTES_PER_PIXEL} bytes per input pixel), and {_gb(have)} is available",
        f"use a smaller {what} (at most about {largest} here{', or a smaller --batch' if batch > 1 else ''}; "
        f"640 is the usual size)")


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n < 1e12 else f"{n / 1e12:.1f} TB"
