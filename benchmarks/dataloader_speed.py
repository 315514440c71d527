"""Images per second of the training data loader, augmentation on/off, per worker count.

    python benchmarks/dataloader_speed.py                       # coco8-pose train, imgsz 640
    python benchmarks/dataloader_speed.py --workers 0,2,4 --images 256 --imgsz 320

One untimed warm-up epoch starts the (persistent) workers; then epochs are timed until
`--images` images have been loaded (decode, augment, collate: everything the trainer
waits for). Figures only: nothing is asserted.
"""
from __future__ import annotations

import argparse
import time

from poseexport.data import load_split
from poseexport.paths import shared_data_dir
from poseexport.train.dataset import PoseTrainDataset, build_dataloader


def images_per_second(dataset: PoseTrainDataset, batch: int, workers: int, images: int) -> float:
    loader = build_dataloader(dataset, batch, workers=workers, seed=0)
    for _ in loader:  # warm-up: worker start-up is not loading speed
        pass
    seen, epoch = 0, 1
    start = time.perf_counter()
    while seen < images:
        dataset.set_epoch(epoch)
        for b in loader:
            seen += len(b["img"])
        epoch += 1
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(shared_data_dir() / "coco8-pose" / "coco8-pose.yaml"))
    parser.add_argument("--split", default="train")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--workers", default="0,2", help="comma-separated worker counts")
    parser.add_argument("--images", type=int, default=128, help="images to time per cell")
    args = parser.parse_args()
    split = load_split(args.data, args.split, progress=False)
    print(f"{args.data} [{args.split}]: {len(split)} images, imgsz {args.imgsz}, batch {args.batch}")
    print(f"{'augment':>8} {'workers':>8} {'images/s':>10}")
    for augment in (True, False):
        for workers in (int(w) for w in args.workers.split(",")):
            dataset = PoseTrainDataset(split, args.imgsz, augment=augment)
            rate = images_per_second(dataset, args.batch, workers, args.images)
            print(f"{'on' if augment else 'off':>8} {workers:>8} {rate:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
