"""Ultralytics' side of the training-epoch timing. Runs INSIDE the throw-away peer env
(benchmarks/peers/setup_ultralytics_env.sh; env vars in /work/peers/READY), never in poseexport's.

    /work/peers/ultralytics-venv/bin/python benchmarks/peers/ultralytics_train_epoch.py \\
        --imgsz 640 --batch 16 --workers 2 --epochs 1 --json theirs.json

What is timed: from Ultralytics' `on_train_epoch_start` callback to its `on_train_epoch_end`
callback, i.e. the epoch's batch loop: data loading with the training augmentations
(mosaic, affine, HSV, flip), forward, loss, backward, optimiser steps and EMA updates.
Not timed: imports, model build and weight transfer, dataset scan and label cache,
dataloader and optimiser construction (the one-time setup), and what follows the loop
(validation, which Ultralytics runs after the final epoch even with val=False, and
checkpoint saving). images/s = training images seen in the timed epochs / their seconds.
Ultralytics forces workers=0 on a CPU device whatever --workers says; the JSON records the
workers it really used, and the torch thread count while training (Ultralytics sets
os.cpu_count() - 1 on a CPU device; --threads overrides it for a like-for-like run).
Uses Ultralytics' public API only (YOLO(...).train and callbacks).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_data import mirror_dataset

DATA = Path(os.environ.get("POSEEXPORT_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=str(DATA / "weights" / "yolo11n-pose.pt"))
    p.add_argument("--data", default=str(DATA / "coco8-pose" / "coco8-pose.yaml"),
                   help="YOLO pose dataset yaml (mirrored to --out first, see peer_data.py)")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1, help="each epoch is timed; more than 1 gives steadier figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads while training (default: Ultralytics' choice, "
                   "os.cpu_count() - 1 on a CPU device, i.e. 1 on a 2-core machine)")
    p.add_argument("--out", default="/tmp/ultralytics-train-epoch", help="scratch folder (dataset mirror, run)")
    p.add_argument("--json", required=True, help="write the result here")
    args = p.parse_args()

    out = Path(args.out).resolve()
    yaml_path = mirror_dataset(args.data, out / "data")
    setup_start = time.perf_counter()
    import torch
    from ultralytics import YOLO

    model = YOLO(args.weights, task="pose")
    epochs: list[dict] = []
    state: dict = {}

    def epoch_start(trainer) -> None:
        state.update(start=time.perf_counter(), batches=0)
        state.setdefault("setup_s", state["start"] - setup_start)

    def batch_start(trainer) -> None:
        state["batches"] += 1

    def epoch_end(trainer) -> None:
        seconds = time.perf_counter() - state["start"]
        images = len(trainer.train_loader.dataset)  # an epoch is one full pass (no drop_last when training)
        epochs.append({"epoch": trainer.epoch + 1, "seconds": seconds, "images": images,
                       "batches": state["batches"], "images_per_s": images / seconds})
        state["workers"] = trainer.args.workers
        state["threads"] = torch.get_num_threads()

    if args.threads:  # Ultralytics' select_device() has set its own count by on_train_start: override it there
        model.add_callback("on_train_start", lambda trainer: torch.set_num_threads(args.threads))
    model.add_callback("on_train_epoch_start", epoch_start)
    model.add_callback("on_train_batch_start", batch_start)
    model.add_callback("on_train_epoch_end", epoch_end)
    model.train(data=str(yaml_path), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, workers=args.workers,
                device="cpu", seed=args.seed, plots=False, val=False, project=str(out / "runs"), name="train",
                exist_ok=True, verbose=False)
    timed = epochs[1:] if len(epochs) > 1 else epochs
    result = {
        "tool": "ultralytics", "epochs": epochs,
        "images_per_s": sum(e["images"] for e in timed) / sum(e["seconds"] for e in timed),
        "images_per_s_note": "over epochs 2.." if len(epochs) > 1 else "over the one epoch",
        "setup_s": state.get("setup_s"),
        "settings": {"imgsz": args.imgsz, "batch": args.batch, "workers_asked": args.workers,
                     "workers_used": state.get("workers"), "epochs": args.epochs, "data": args.data,
                     "weights": args.weights, "threads": state.get("threads")},
        "timed": "on_train_epoch_start..on_train_epoch_end: data loading + augmentation + forward + loss + "
                 "backward + optimiser + EMA; excludes setup, validation, checkpoint saving",
    }
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
