"""Training throughput: images per second of training epochs on coco8-pose (no validation).

    python benchmarks/train_epoch.py [--model yolo11n-pose.yaml] [--imgsz 640] [--batch 4] [--epochs 3]

Runs `--warmup` untimed epochs, then times `--epochs` epochs from the first batch's load to
the last optimiser step (data loading, augmentation, forward, loss, backward, step, EMA),
without validation or checkpoint writing, and prints the median images/s. The settings
mirror the reference trainer's defaults (mosaic on, workers 2, deterministic) so the
lead can run the same epoch with Ultralytics' `yolo train` for the ours / theirs ratio.
Figures only: nothing is asserted.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from poseexport.paths import shared_data_dir
from poseexport.train.options import TrainOptions
from poseexport.train.trainer import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="yolo11n-pose.yaml")
    parser.add_argument("--data", default=str(shared_data_dir() / "coco8-pose" / "coco8-pose.yaml"))
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs first")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    marks: dict[int, list[float]] = {}
    sizes: list[int] = []

    def epoch_start(trainer):  # the clock starts before the first batch is loaded
        marks[trainer.epoch] = [time.perf_counter()]
        sizes.append(len(trainer.dataset))

    def batch_end(trainer):  # after the batch's optimiser step (or gradient accumulation)
        marks[trainer.epoch].append(time.perf_counter())

    total = args.warmup + args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        options = TrainOptions.from_kwargs(epochs=total, imgsz=args.imgsz, batch=args.batch, workers=args.workers,
                                           val=False, plots=False, progress=False, project=tmp, name="bench",
                                           close_mosaic=0)
        train(args.model, args.data, options, log=lambda text: None,
              callbacks={"on_epoch_start": [epoch_start], "on_batch_end": [batch_end]})
    n_images = sizes[0]
    timed = list(range(args.warmup, total))
    rates = [n_images / (marks[e][-1] - marks[e][0]) for e in timed]
    print(f"{args.model} imgsz {args.imgsz} batch {args.batch} workers {args.workers} threads "
          f"{torch.get_num_threads()}: {statistics.median(rates):.2f} images/s training "
          f"(median of {len(rates)} epochs of {n_images} images: "
          f"{', '.join(f'{r:.2f}' for r in rates)})")


if __name__ == "__main__":
    main()
