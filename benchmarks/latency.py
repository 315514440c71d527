"""Latency of exported artifacts: one letterboxed real image, after warm-up, per thread count.

    python benchmarks/latency.py yolo11n-pose_onnx yolo11n-pose_onnx_int8 [--threads 1,2] [--runs 20]
    python benchmarks/latency.py yolo11n-pose_openvino --hint bf16   # OpenVINO's CPU default

Prints median / p90 milliseconds of `Runner.forward` (timed here, from outside, as every
benchmark should) and the artifact size. Figures only: nothing is asserted.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import poseexport
from poseexport.benchmark.measure import folder_size_mb, time_infer
from poseexport.benchmark.spec import LatencyPlan
from poseexport.paths import shared_data_dir
from poseexport.predict import preprocess, read_image


def open_runner(path: str, threads: int, hint: str | None):
    if hint is None:
        return poseexport.load(path, threads=threads)
    # the hint is OpenVINO's knob
    from poseexport.backends.openvino import OpenVinoRunner

    base = poseexport.load(path)
    return OpenVinoRunner(base.artifact, threads=threads, inference_precision=hint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hint", help="OpenVINO INFERENCE_PRECISION_HINT override (e.g. bf16)")
    parser.add_argument("--image", default=str(shared_data_dir() / "images" / "bus.jpg"))
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    plan = LatencyPlan(warmup=5, iterations=args.runs, budget_s=math.inf)  # every run asked, no time cap
    print(f"{'artifact':48} {'precision':9} {'MB':>6}  " + "  ".join(f"{t} thr p50/p90 ms" for t in threads))
    for path in args.artifacts:
        cells, meta = [], None
        for t in threads:
            with open_runner(path, t, args.hint) as runner:
                meta = runner.metadata
                h, w = runner.imgsz
                image, _ = preprocess([read_image(Path(args.image))], (h, w), stride=runner.stride)
                timing = time_infer(runner.forward, image, plan)
            cells.append(f"{timing['p50_ms']:7.1f} / {timing['p90_ms']:6.1f}  ")
        size = folder_size_mb(Path(path))
        precision = meta.precision.name + (f"+{args.hint}" if args.hint else "")
        print(f"{path:48} {precision:9} {size:6.1f}  " + "".join(cells))


if __name__ == "__main__":
    main()
