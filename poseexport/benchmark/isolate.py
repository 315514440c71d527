"""Run one cell in its own process, with a time limit, and turn whatever happened into a row.

A converter or runtime that segfaults, hangs or runs out of memory takes down only its
own process: the parent reads the partial result the child wrote before dying and adds
the status (crashed with the signal, timed out, out of memory). The child runs in a new
session so a timeout kills everything it started (converters that spawn helpers too).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import spec as S

POLL_S = 0.2
GRACE_S = 5.0  # after SIGTERM, before SIGKILL
LOG_TAIL_CHARS = 4000


def run_isolated(cell: S.CellSpec, work: Path) -> dict:
    """Run `cell` in a child process; return its result row (never raises for the cell's failures)."""
    work.mkdir(parents=True, exist_ok=True)
    spec_path, result_path, log_path = (work / f"{cell.name}.{ext}" for ext in ("spec.json", "json", "log"))
    spec_path.write_text(cell.to_json())
    result_path.unlink(missing_ok=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "poseexport.benchmark.cell", str(spec_path), str(result_path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        code, usage, timed_out = _wait(proc, cell.options.timeout_s)
    wall = time.perf_counter() - start
    row = _read_row(result_path, cell)
    row.update(wall_s=wall, log=str(log_path), exit_code=code)
    if usage is not None:  # the kernel's figure covers a child that died before reporting
        row["peak_rss_mb"] = usage.ru_maxrss / (1e6 if sys.platform == "darwin" else 1e3)
    tail = _tail(log_path)
    if timed_out:
        return _fail(row, S.TIMED_OUT, f"no result after {cell.options.timeout_s:g} s (stage: {row['stage']}); "
                                       f"killed. Last output:\n{tail}")
    if row.get("status") is None and cell.options.memory_limit_gb and _allocation_failed(code, tail):
        # under RLIMIT_AS a failed allocation in C/C++ aborts or segfaults instead of raising MemoryError
        return _fail(row, S.OUT_OF_MEMORY, f"the cell process died ({_how(code)}) after an allocation failed under "
                                           f"--memory-limit {cell.options.memory_limit_gb:g} GB during "
                                           f"{row['stage']}. Last output:\n{tail}")
    if code < 0:
        sig = signal.Signals(-code).name
        why = " (the kernel's OOM killer sends this when memory runs out)" if -code == signal.SIGKILL else ""
        return _fail(row, S.CRASHED, f"the cell process died with {sig}{why} during {row['stage']}. "
                                     f"Last output:\n{tail}")
    if row.get("status") is None:
        return _fail(row, S.CRASHED, f"the cell process exited with status {code} during {row['stage']} "
                                     f"without a result. Last output:\n{tail}")
    if row["status"] != S.OK and not row.get("error"):
        row["error"] = tail
    return row


def _wait(proc: subprocess.Popen, timeout: float):
    """(exit code, rusage, timed out): os.wait4 gives the child's own peak memory."""
    done = _reap(proc, time.monotonic() + timeout)
    if done:
        return (*done, False)
    _kill_group(proc.pid, signal.SIGTERM)
    done = _reap(proc, time.monotonic() + GRACE_S)
    if done:
        return (*done, True)
    _kill_group(proc.pid, signal.SIGKILL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage, True


def _reap(proc: subprocess.Popen, deadline: float):
    """(exit code, rusage) once the child has exited, or None if it still runs at `deadline`."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            return None
        time.sleep(POLL_S)


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own session: its helpers go too
    except ProcessLookupError:
        pass


def _read_row(path: Path, cell: S.CellSpec) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # died before writing anything readable
        return cell.row(None, "start")


# what a failed allocation prints; the last two are CPython's SystemErrors for C code whose malloc
# failed and that returned NULL without setting MemoryError (seen while importing torch under
# --memory-limit 0.6, in about 1 run of 6)
ALLOCATION_FAILURES = ("bad_alloc", "MemoryError", "Cannot allocate memory", "out of memory",
                       "failed to map segment", "mmap failed", "error return without exception set",
                       "returned NULL without setting an exception")


def names_failed_allocation(text: str) -> bool:
    return any(sign.lower() in text.lower() for sign in ALLOCATION_FAILURES)


def _allocation_failed(code: int, tail: str) -> bool:
    """An abort or segfault, or any failing exit whose output names a failed allocation."""
    if code in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS):
        return True
    return code != 0 and names_failed_allocation(tail)


def _how(code: int) -> str:
    return signal.Signals(-code).name if code < 0 else f"exit status {code}"


def _fail(row: dict, status: str, error: str) -> dict:
    row["status"] = status
    row["error"] = "\n".join(filter(None, [row.get("error"), error]))
    return row


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL_CHARS:].strip()
