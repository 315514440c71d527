"""A cell that segfaults, hangs or runs out of memory gets its status; the rest completes."""
from __future__ import annotations

import json

from benchmark_runs import FAST, HANG_TIMEOUT_S, benchmark_env, poseexport_cli


def test_segfault_is_a_crashed_row(crash_run):
    row = crash_run.row("segfault-fp32")
    assert row["status"] == "crashed" and row["stage"] == "export"
    assert "SIGSEGV" in row["error"] and row["exit_code"] == -11
    assert row["peak_rss_mb"] > 50  # from the kernel's accounting of the dead process


def test_hang_is_a_timed_out_row(crash_run):
    row = crash_run.row("hang-fp32")
    assert row["status"] == "timed out" and row["stage"] == "export"
    assert HANG_TIMEOUT_S <= row["wall_s"] < HANG_TIMEOUT_S + 10  # SIGTERM on time, not after
    assert f"no result after {HANG_TIMEOUT_S} s" in row["error"]


def test_other_cells_complete_and_exit_status_follows_fail_on(crash_run):
    ref = crash_run.row("pytorch-fp32")
    assert ref["status"] == "ok" and len(ref["latency"]) >= 1 and ref["val"] is None  # --data none
    assert [r["cell"] for r in crash_run.results["rows"]] == ["pytorch-fp32", "segfault-fp32", "hang-fp32"]
    assert crash_run.code == 1  # crashed / timed out are errors under the default --fail-on
    assert "segfault-fp32: crashed" in crash_run.stderr and "hang-fp32: timed out" in crash_run.stderr


def test_memory_exhaustion_is_an_out_of_memory_row(tmp_path):
    # 0.6 GB of address space is less than importing torch maps: every cell runs out of memory,
    # becomes a row with that status, and the run still writes its report
    out = tmp_path / "out"
    proc = poseexport_cli(["benchmark", *FAST, "--formats", "onnx", "--data", "none", "--memory-limit", "0.6",
                           "--out", str(out)], benchmark_env(tmp_path / "cache"))
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["cell"], r["status"]) for r in rows] == [("pytorch-fp32", "out of memory"),
                                                        ("onnx-fp32", "out of memory")]
    # a failed allocation raises MemoryError, or (inside C code) segfaults or aborts the process
    assert all("MemoryError" in r["error"] or "allocation failed under --memory-limit 0.6 GB" in r["error"]
               for r in rows) and proc.returncode == 1


def test_cpython_null_returns_under_a_memory_cap_read_as_failed_allocations():
    # both seen importing torch under --memory-limit 0.6 (the cell then records "out of memory")
    from poseexport.benchmark.isolate import names_failed_allocation

    assert names_failed_allocation("SystemError: error return without exception set")
    assert names_failed_allocation("SystemError: <function _find_and_load at 0x7f60> returned NULL without "
                                   "setting an exception")
    assert not names_failed_allocation("ValueError: a bug in a stage")
