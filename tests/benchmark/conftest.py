"""Benchmark runs of the tiny network, shared by the tests of this folder (each run once)."""
from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_runs import FAST, HANG_TIMEOUT_S, Run, benchmark_env, poseexport_cli


@pytest.fixture(scope="session")
def tiny_run(data_dir: Path, tmp_path_factory) -> Run:
    """torchscript, onnx, openvino at fp32 on the tiny network, validated on coco8-pose."""
    root = tmp_path_factory.mktemp("bench-tiny")
    out, cell = root / "out", root / "cell.json"
    proc = poseexport_cli(["benchmark", *FAST, "--formats", "torchscript,onnx,openvino",
                           "--data", str(data_dir / "coco8-pose" / "coco8-pose.yaml"), "--out", str(out),
                           "--json", str(cell)], benchmark_env(root / "cache"))
    assert cell.is_file(), proc.stderr[-3000:]
    return Run(proc.returncode, out, cell, proc.stderr)


@pytest.fixture(scope="session")
def crash_run(data_dir: Path, tmp_path_factory) -> Run:
    """A segfaulting and a hanging backend beside the PyTorch row (no val: the row stays fast)."""
    root = tmp_path_factory.mktemp("bench-crash")
    out, cell = root / "out", root / "cell.json"
    proc = poseexport_cli(["benchmark", *FAST, "--formats", "segfault,hang", "--data", "none",
                           "--timeout", str(HANG_TIMEOUT_S), "--out", str(out), "--json", str(cell)],
                          benchmark_env(root / "cache", extra_backends=True))
    assert cell.is_file(), proc.stderr[-3000:]
    return Run(proc.returncode, out, cell, proc.stderr)
