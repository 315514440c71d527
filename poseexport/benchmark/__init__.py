"""The benchmark matrix: every format x precision judged against PyTorch in one run.

    from poseexport.benchmark import BenchmarkOptions, run_benchmark
    results = run_benchmark(BenchmarkOptions(formats=("onnx",), precisions=("fp32", "int8")))

Each cell (export, cold load, parity, golden vector, latency, val mAP, size, peak memory)
runs in its own process with a time limit (cell.py, isolate.py); the PyTorch row of the
same run is the reference for mAP (matrix.py); report.py writes results.json/.csv/.md,
junit.xml and results.png; baseline.py flags regressions; merge.py joins CI cells.
"""
from __future__ import annotations

from .spec import BenchmarkOptions, LatencyPlan


def run_benchmark(options: BenchmarkOptions, baseline: str | None = None, command: list[str] | None = None,
                  log=None) -> dict:
    """Run the matrix, compare with `baseline` (a results.json) if given, write every output."""
    from .baseline import compare, load_results
    from .matrix import run_matrix
    from .report import write_all

    before = load_results(baseline) if baseline else None  # a bad baseline fails before hours of work
    results = run_matrix(options, command=command, log=log)
    if before is not None:
        compare(results, before)
    write_all(results, options.out)
    return results


__all__ = ["BenchmarkOptions", "LatencyPlan", "run_benchmark"]
