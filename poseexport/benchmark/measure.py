"""Timing and sizes, taken from outside the runtime: one place for every format.

Backends never time themselves; `time_infer` calls `forward` after warm-up and reports
percentiles of the wall-clock time per call, with the number of runs actually made.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .spec import LatencyPlan


def all_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_settings(plan: LatencyPlan) -> tuple[int, ...]:
    """1 thread and all cores (one entry when they are the same), unless the plan names them."""
    return plan.threads or tuple(sorted({1, all_cores()}))


def time_infer(infer: Callable[[np.ndarray], object], batch: np.ndarray, plan: LatencyPlan) -> dict:
    """p50/p90/p99/mean milliseconds per call and images per second, after warm-up."""
    warm_deadline = time.perf_counter() + plan.budget_s / 4
    warm = 0
    while warm < plan.warmup and (warm == 0 or time.perf_counter() < warm_deadline):
        infer(batch)
        warm += 1
    times: list[float] = []
    deadline = time.perf_counter() + plan.budget_s
    while len(times) < plan.iterations and (len(times) < plan.min_runs or time.perf_counter() < deadline):
        start = time.perf_counter()
        infer(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    ms = np.asarray(times)
    p50 = float(np.percentile(ms, 50))
    return {"batch": len(batch), "warmup": warm, "runs": len(times),
            "capped": len(times) < plan.iterations or warm < plan.warmup,
            "p50_ms": p50, "p90_ms": float(np.percentile(ms, 90)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()),
            "fps": float(len(batch) * 1000.0 / p50) if p50 > 0 else 0.0}


def folder_size_mb(path: Path) -> float:
    """Bytes of every file under `path` (the artifact as shipped, sidecars included), in MB."""
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1e3  # bytes on macOS, KiB elsewhere
