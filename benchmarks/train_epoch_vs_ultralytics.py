"""One training epoch of yolo11n-pose on coco8-pose, poseexport next to Ultralytics: images/s, ours / theirs.

    python benchmarks/train_epoch_vs_ultralytics.py                    # imgsz 640, batch 16, workers 0, 1 epoch
    python benchmarks/train_epoch_vs_ultralytics.py --epochs 3 --threads 2 --out runs/train-peer

Each side runs in a fresh process with the same weights, dataset, imgsz, batch, workers,
seed and torch thread count. Ours: `PoseModel(weights).train(...)` in poseexport's env,
the trainer behind `poseexport train`; theirs: benchmarks/peers/ultralytics_train_epoch.py
in the throw-away Ultralytics env (/work/peers/READY). Plots and per-epoch validation off
on both sides.

Timed, on both sides: the epoch's batch loop, i.e. data loading with the training
augmentations, forward, loss, backward, optimiser steps, EMA updates. Ours: from the
trainer's on_epoch_start to its on_train_epoch_end event when the trainer has one, else to
the last on_batch_end (then a gradient step left pending after the last batch is not
timed; on coco8-pose at batch 16 the epoch is one batch and steps inside the loop).
Theirs: on_train_epoch_start to on_train_epoch_end. Not timed: imports, model build,
dataset scan, loader/optimiser construction, validation, checkpoint saving. With
--epochs N > 1 the figure is over epochs 2..N (the first carries one-off allocations).
Ultralytics forces workers=0 on a CPU device, so --workers defaults to 0 here.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEER_ENV = {"YOLO_CONFIG_DIR": "/work/peers/ultralytics-config", "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False"}


def shared_data() -> Path:
    return Path(os.environ.get("POSEEXPORT_DATA", HERE.parents[1] / "shared" / "data"))


def ours_epoch(args: argparse.Namespace) -> None:
    """Internal step, in poseexport's env: train and time with the trainer's callbacks."""
    start_process = time.perf_counter()
    import torch

    from poseexport import PoseModel
    from poseexport.train.trainer import EVENTS

    torch.set_num_threads(args.threads)
    end_event = "on_train_epoch_end" if "on_train_epoch_end" in EVENTS else "on_batch_end"
    epochs: list[dict] = []
    state: dict = {}

    def epoch_start(trainer) -> None:
        state.update(start=time.perf_counter(), batches=0, end=None)
        state.setdefault("setup_s", state["start"] - start_process)

    def batch_end(trainer) -> None:
        state["batches"] += 1
        state["end"] = time.perf_counter()

    def epoch_timed(trainer) -> None:
        state["end"] = time.perf_counter()

    def epoch_end(trainer) -> None:
        seconds = state["end"] - state["start"]
        images = len(trainer.dataset)
        epochs.append({"epoch": trainer.epoch + 1, "seconds": seconds, "images": images,
                       "batches": state["batches"], "images_per_s": images / seconds})
        state["threads"] = torch.get_num_threads()

    callbacks = {"on_epoch_start": [epoch_start], "on_batch_end": [batch_end], "on_epoch_end": [epoch_end]}
    if end_event != "on_batch_end":
        callbacks[end_event] = [epoch_timed]
    model = PoseModel(args.model)
    model.train(args.data, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, workers=args.workers,
                seed=args.seed, device="cpu", plots=False, val=False, progress=False,
                project=str(Path(args.out) / "runs"), name="ours", exist_ok=True, callbacks=callbacks)
    write_result(args.json, "poseexport", epochs, state, args, f"on_epoch_start..{end_event}")


def write_result(path: str, tool: str, epochs: list[dict], state: dict, args, timed: str) -> None:
    steady = epochs[1:] if len(epochs) > 1 else epochs
    result = {"tool": tool, "epochs": epochs,
              "images_per_s": sum(e["images"] for e in steady) / sum(e["seconds"] for e in steady),
              "images_per_s_note": "over epochs 2.." if len(epochs) > 1 else "over the one epoch",
              "setup_s": state.get("setup_s"), "timed": timed,
              "settings": {"imgsz": args.imgsz, "batch": args.batch, "workers": args.workers, "epochs": args.epochs,
                           "threads": state.get("threads"), "data": args.data, "model": args.model}}
    Path(path).write_text(json.dumps(result, indent=2))


def run_side(cmd: list[str], log: Path, env: dict | None = None) -> bool:
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=False, env={**os.environ, **(env or {})})
    if proc.returncode:
        print(f"failed ({proc.returncode}): {' '.join(cmd)}\n--- last lines of {log} ---\n"
              + "\n".join(log.read_text().splitlines()[-15:]), file=sys.stderr)
    return proc.returncode == 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    data = shared_data()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(data / "weights" / "yolo11n-pose.pt"))
    p.add_argument("--data", default=str(data / "coco8-pose" / "coco8-pose.yaml"))
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads on both sides")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sides", default="ours,theirs", help="ours, theirs or both (ours,theirs)")
    p.add_argument("--peer-python", default="/work/peers/ultralytics-venv/bin/python")
    p.add_argument("--out", default="runs/train-epoch-peer")
    p.add_argument("--json", help="internal: where a side writes its result")
    return p.parse_args(argv)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_ours":
        return ours_epoch(parse_args(sys.argv[2:]))
    args = parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    common = ["--imgsz", str(args.imgsz), "--batch", str(args.batch), "--workers", str(args.workers),
              "--epochs", str(args.epochs), "--threads", str(args.threads), "--seed", str(args.seed),
              "--data", args.data]
    sides = [s.strip() for s in args.sides.split(",")]
    results = {}
    if "theirs" in sides and run_side(
            [args.peer_python, str(HERE / "peers" / "ultralytics_train_epoch.py"), *common, "--weights", args.model,
             "--out", str(out / "theirs"), "--json", str(out / "theirs.json")], out / "theirs.log", PEER_ENV):
        results["theirs"] = json.loads((out / "theirs.json").read_text())
    if "ours" in sides and run_side(
            [sys.executable, __file__, "_ours", *common, "--model", args.model, "--out", str(out / "ours"),
             "--json", str(out / "ours.json")], out / "ours.log"):
        results["ours"] = json.loads((out / "ours.json").read_text())
    print(f"one training epoch, {Path(args.data).name}, imgsz {args.imgsz}, batch {args.batch}, "
          f"workers {args.workers}, {args.threads} threads, {args.epochs} epoch(s)")
    for side, r in results.items():
        times = ", ".join(f"{e['seconds']:.2f}s" for e in r["epochs"])
        workers = r["settings"].get("workers_used", r["settings"].get("workers"))
        print(f"  {side:7} {r['images_per_s']:7.2f} images/s ({r['images_per_s_note']}; epochs {times}; "
              f"setup {r['setup_s']:.1f}s; threads {r['settings']['threads']}, workers {workers})")
    if len(results) == 2:
        ratio = results["ours"]["images_per_s"] / results["theirs"]["images_per_s"]
        results["ratio_ours_over_theirs_images_per_s"] = ratio
        print(f"  ours / theirs images/s: {ratio:.2f} (above 1: poseexport trains faster)")
    (out / "train_epoch_vs_ultralytics.json").write_text(json.dumps(results, indent=2))
    if len(results) < len(sides):
        sys.exit(1)


if __name__ == "__main__":
    main()
