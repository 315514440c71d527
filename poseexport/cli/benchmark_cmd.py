"""`poseexport benchmark`: the format x precision matrix, and `poseexport benchmark merge`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_model_argument, image_size, positive_int

EPILOG = """\
examples:
  poseexport benchmark                                   # torchscript,onnx,openvino x fp32,fp16,int8
  poseexport benchmark --formats onnx --precisions int8 --json cell.json   # one CI cell
  poseexport benchmark merge cells/*.json --out report --baseline last/results.json

every cell runs in its own process (--timeout); a crash, hang or memory exhaustion becomes
that cell's status. Outputs in --out: results.json, results.csv, results.md, junit.xml,
results.png. Exit status: 0, or 1 when --fail-on matches (2: bad arguments).
fail-on: error = export/load failed, crashed, timed out, out of memory; parity; accuracy
(pose mAP50-95 drop beyond fp32 0.005 / fp16 0.01 / int8 0.05 vs the PyTorch row);
regression (vs --baseline: latency p50 +10 %% and >= 0.5 ms, mAP -0.005, size +10 %%,
a cell no longer ok). See docs/benchmark.md."""


def register(sub) -> None:
    parser = sub.add_parser(
        "benchmark", help="every format x precision: export, parity, mAP, latency, size, memory",
        description="Export the model to each format at each precision and measure every cell in its own "
                    "process against the PyTorch row of the same run: export and cold-load time, parity "
                    "(tensors, keypoints in px), golden vector, val mAP and its difference from PyTorch, "
                    "latency after warm-up (p50/p90/p99, FPS; 1 thread and all cores; batch 1 and the "
                    "exported batch), artifact size and peak memory.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.set_defaults(run=run)
    actions = parser.add_subparsers(dest="action", metavar="merge")
    merge = actions.add_parser("merge", help="join cell JSON files (CI jobs) into one report",
                               description="Join the --json files of several benchmark runs into one set of "
                                           "outputs; rows keep the host they ran on.")
    merge.add_argument("files", nargs="+", help="cell or results JSON files")
    add_report_arguments(merge)
    merge.set_defaults(run=run_merge)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    from ..benchmark.spec import BenchmarkOptions, LatencyPlan

    plan = LatencyPlan()
    add_model_argument(parser)
    parser.add_argument("--formats", default="torchscript,onnx,openvino",
                        help="comma-separated formats, or 'all' for every registered one "
                             "(default torchscript,onnx,openvino)")
    parser.add_argument("--precisions", default="fp32,fp16,int8", help="comma-separated (default fp32,fp16,int8)")
    parser.add_argument("--imgsz", type=image_size, default=640, help="export size, one side or H,W (default 640)")
    parser.add_argument("--batch", type=positive_int, default=1,
                        help="exported batch; latency is also taken at batch 1 when the input allows (default 1)")
    parser.add_argument("--data", help="val dataset yaml for mAP (default: coco-val-pose from the shared data "
                                       "folder when present; 'none' to skip mAP)")
    parser.add_argument("--calib", help="int8 calibration images, a folder or dataset yaml (default: calib-people "
                                        "from the shared data folder when present)")
    parser.add_argument("--timeout", type=float, default=BenchmarkOptions.timeout_s,
                        help=f"seconds per cell before it is killed (default {BenchmarkOptions.timeout_s:g})")
    parser.add_argument("--memory-limit", type=float, metavar="GB",
                        help="address-space limit per cell; exceeding it gives 'out of memory' (default none)")
    parser.add_argument("--warmup", type=int, default=plan.warmup, help=f"warm-up runs (default {plan.warmup})")
    parser.add_argument("--iterations", type=positive_int, default=plan.iterations,
                        help=f"timed runs per setting (default {plan.iterations})")
    parser.add_argument("--latency-budget", type=float, default=plan.budget_s, metavar="S",
                        help=f"seconds of timed runs per setting; slower cells stop early with at least "
                             f"{plan.min_runs} runs, and the table marks them (default {plan.budget_s:g})")
    parser.add_argument("--threads", help="comma-separated thread counts (default: 1 and all cores)")
    parser.add_argument("--json", metavar="PATH", help="also write the results here (a CI cell for `merge`)")
    add_report_arguments(parser)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    from ..benchmark.spec import FAIL_ON_CHOICES

    parser.add_argument("--out", default="benchmark-results", help="output folder (default ./benchmark-results)")
    parser.add_argument("--baseline", metavar="RESULTS_JSON", help="an earlier results.json to flag regressions against")
    parser.add_argument("--fail-on", default=",".join(FAIL_ON_CHOICES),
                        help=f"what makes the exit status 1: any of {','.join(FAIL_ON_CHOICES)}, or 'none' "
                             f"(default all)")


def parse_list(text: str, what: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
    from ..errors import UnsupportedOptionError

    items = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not items:
        raise UnsupportedOptionError(f"No {what} given", f"--{what} is empty", f"pass e.g. --{what} {choices[0] if choices else 'onnx'}")
    bad = [i for i in items if choices and i not in choices]
    if bad:
        raise UnsupportedOptionError(f"Unknown {what}: {', '.join(bad)}", f"{what} are chosen from a fixed list",
                                     f"use any of: {', '.join(choices)}")
    return items


def fail_on(text: str) -> tuple[str, ...]:
    from ..benchmark.spec import FAIL_ON_CHOICES

    return () if text.strip() == "none" else parse_list(text, "fail-on", FAIL_ON_CHOICES)


def default_path(given: str | None, relative: str) -> str | None:
    """The asked path (checked), 'none', or the shared data's copy when it exists."""
    from ..errors import BadInputError
    from ..paths import shared_data_dir

    if given and given.lower() == "none":
        return None
    if given:
        if not Path(given).exists():
            raise BadInputError(f"{given} does not exist", "the benchmark reads it in every cell",
                                "check the path")
        return str(Path(given).resolve())
    found = shared_data_dir() / relative
    return str(found) if found.exists() else None


def run(args: argparse.Namespace) -> int:
    from ..benchmark import BenchmarkOptions, LatencyPlan, run_benchmark
    from ..benchmark.spec import PRECISIONS
    from ..contract.registry import registered

    formats = tuple(registered()) if args.formats.strip() == "all" else parse_list(args.formats, "formats")
    threads = tuple(int(t) for t in parse_list(args.threads, "threads")) if args.threads else ()
    imgsz = (args.imgsz, args.imgsz) if isinstance(args.imgsz, int) else tuple(args.imgsz)
    options = BenchmarkOptions(
        model=args.model, formats=formats, precisions=parse_list(args.precisions, "precisions", PRECISIONS),
        imgsz=imgsz, batch=args.batch, data=default_path(args.data, "coco-val-pose/coco-val-pose.yaml"),
        calib=default_path(args.calib, "calib-people"), out=str(Path(args.out).resolve()),
        timeout_s=args.timeout, memory_limit_gb=args.memory_limit,
        latency=LatencyPlan(warmup=args.warmup, iterations=args.iterations, budget_s=args.latency_budget,
                            threads=threads))
    reasons = fail_on(args.fail_on)
    if options.data is None:
        print("benchmark: no val dataset (--data): cells get no mAP", file=sys.stderr)
    results = run_benchmark(options, baseline=args.baseline, command=["poseexport", *sys.argv[1:]])
    return finish(results, args, reasons)


def run_merge(args: argparse.Namespace) -> int:
    from ..benchmark.baseline import compare, load_results
    from ..benchmark.merge import merge_results
    from ..benchmark.report import write_all

    reasons = fail_on(args.fail_on)
    results = merge_results(args.files, command=["poseexport", *sys.argv[1:]])
    if args.baseline:
        compare(results, load_results(args.baseline))
    write_all(results, args.out)
    return finish(results, args, reasons)


def finish(results: dict, args: argparse.Namespace, reasons: tuple[str, ...]) -> int:
    from ..benchmark.baseline import failures
    from ..benchmark.report import write_json

    if getattr(args, "json", None):
        write_json(results, Path(args.json))
    counts: dict[str, int] = {}
    for row in results["rows"]:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    out = Path(args.out)
    print(f"benchmark: {len(results['rows'])} rows ({', '.join(f'{n} {s}' for s, n in counts.items())}) in "
          f"{results.get('wall_s', 0):.0f} s -> {out / 'results.md'}")
    for reg in results.get("regressions") or []:
        print(f"  regression {reg['cell']}: {reg['what']}")
    failed = failures(results, reasons)
    if failed:
        print(f"benchmark: failing (--fail-on {','.join(reasons)}):\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0
