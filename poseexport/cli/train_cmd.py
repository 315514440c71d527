"""`poseexport train`: train or fine-tune a pose network on a YOLO-pose dataset.

Every option left out keeps TrainOptions' default; `--set KEY=VALUE` reaches the
augmentation settings and loss gains (mosaic, degrees, fliplr, ..., box, pose, kobj, cls, dfl).
Under torchrun the same command trains with distributed data parallel (see docs/train.md).
"""
from __future__ import annotations

import argparse
import sys

from ..errors import UnsupportedOptionError
from .common import positive_int


def register(sub) -> None:
    parser = sub.add_parser(
        "train", help="train or fine-tune a pose network on a YOLO-pose dataset",
        description="Train a pose network: from a config (yolo11n-pose.yaml, from scratch or with "
                    "--pretrained weights) or a checkpoint (fine-tuning; a dataset with other classes "
                    "or keypoints gets a new head). Each epoch validates the EMA weights and writes "
                    "weights/last.pt and weights/best.pt, results.csv and results.png to the run folder. "
                    "Ctrl-C saves a resumable last.pt.",
        epilog="examples:\n"
               "  poseexport train --model yolo11n-pose.pt --data coco8-pose.yaml --epochs 10 --imgsz 640\n"
               "  poseexport train --model yolo11n-pose.yaml --pretrained yolo11n-pose.pt --data my.yaml\n"
               "  poseexport train --resume runs/train/exp\n"
               "  torchrun --nproc_per_node 2 -m poseexport.train.ddp_entry --model ... --data ...",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--model", "-m", help="config (yolo11n-pose.yaml: new network) or checkpoint (.pt: fine-tune); "
                              "default yolo11n-pose.pt")
    add("--data", "-d", help="dataset yaml with train and val splits (required unless --resume)")
    add("--resume", metavar="RUN", help="continue an interrupted run: its folder or weights/last.pt")
    add("--epochs", type=positive_int, help="epochs to train (default 100)")
    add("--imgsz", type=positive_int, help="square training and validation size, a multiple of 32 (default 640)")
    add("--batch", type=positive_int, help="images per step over all processes (default 16)")
    add("--nbs", type=positive_int, help="nominal batch: gradients accumulate to this many images (default 64)")
    add("--device", help="cpu or cuda:0 (default cpu; under torchrun each rank takes cuda:LOCAL_RANK)")
    add("--workers", type=int, help="data-loading worker processes per rank (default 2; 0 loads in-process)")
    add("--optimizer", choices=("auto", "SGD", "AdamW"),
        help="auto (default): AdamW with lr 0.002*5/(4+nc) for runs up to 10k steps, else SGD lr 0.01")
    add("--lr0", type=float, help="initial learning rate (default 0.01; ignored by --optimizer auto)")
    add("--lrf", type=float, help="final learning rate as a fraction of lr0 (default 0.01)")
    add("--momentum", type=float, help="SGD momentum / Adam beta1 (default 0.937)")
    add("--weight-decay", type=float, help="weight decay of conv weights (default 5e-4)")
    add("--warmup-epochs", type=float, help="linear warm-up length in epochs, at least 100 iterations (default 3; 0: none)")
    add("--cos-lr", action="store_const", const=True, help="cosine instead of linear lr decay")
    add("--close-mosaic", type=int, metavar="N", help="no mosaic in the last N epochs (default 10)")
    add("--patience", type=int, help="stop after N epochs without improvement (default 100, 0: never)")
    add("--seed", type=int, help="random seed (default 0)")
    add("--no-deterministic", dest="deterministic", action="store_const", const=False,
        help="allow non-deterministic (faster) kernels")
    add("--freeze", type=int, metavar="N", help="freeze the first N layers (10: the YOLO11 backbone)")
    add("--pretrained", metavar="WEIGHTS", help="transfer every matching tensor of WEIGHTS into --model")
    add("--amp", action="store_const", const=True, dest="amp",
        help="mixed precision (default: on for CUDA; it never runs on CPU)")
    add("--no-amp", action="store_const", const=False, dest="amp", help="full precision on CUDA too")
    add("--sync-bn", action="store_const", const=True, help="synchronised BatchNorm under torchrun (CUDA)")
    add("--project", help="parent folder of runs (default runs/train)")
    add("--name", help="run folder name (default exp; exp2, exp3 ... when taken)")
    add("--exist-ok", action="store_const", const=True, help="reuse project/name if it exists")
    add("--save-period", type=int, metavar="N", help="also keep weights/epochN.pt every N epochs")
    add("--no-val", dest="val", action="store_const", const=False,
        help="no validation per epoch (best.pt then follows the training loss)")
    add("--val-split", help="split to validate on each epoch (default val)")
    add("--no-plots", dest="plots", action="store_const", const=False,
        help="no train_batch*.png and results.png")
    add("--set", action="append", default=[], metavar="KEY=VALUE",
        help="any other option, e.g. --set mosaic=0.5 --set degrees=10 --set pose=10 (repeatable)")
    add("--quiet", "-q", dest="progress", action="store_const", const=False, help="no progress bars")
    parser.set_defaults(run=run)


def parse_set(items: list[str]) -> dict:
    """KEY=VALUE pairs; values are read as YAML scalars (numbers, true/false, text)."""
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UnsupportedOptionError(f"--set {item} cannot be read", "it needs the form KEY=VALUE",
                                         "write e.g. --set mosaic=0.5")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def options_from_args(args: argparse.Namespace) -> dict:
    """The options the user gave (None means 'not given', so defaults stay in TrainOptions)."""
    names = ("epochs", "imgsz", "batch", "nbs", "device", "workers", "optimizer", "lr0", "lrf", "momentum",
             "weight_decay", "warmup_epochs", "cos_lr", "close_mosaic", "patience", "seed", "deterministic",
             "freeze", "pretrained", "amp", "sync_bn", "project", "name", "exist_ok", "save_period", "val",
             "val_split", "plots", "progress")
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    extra = parse_set(args.set)
    clash = sorted(set(extra) & set(given))
    if clash:
        raise UnsupportedOptionError(f"{', '.join(clash)} given twice", "as a flag and with --set",
                                     "give each option once")
    return {**given, **extra}


def run(args: argparse.Namespace) -> int:
    from ..train.options import RESUME_OVERRIDES, TrainOptions
    from ..train.trainer import train

    given = options_from_args(args)
    if args.resume:
        fixed = sorted(set(given) - set(RESUME_OVERRIDES)) + [f for f in ("model", "data") if getattr(args, f)]
        if fixed:
            raise UnsupportedOptionError(
                f"--resume continues a run exactly as it was started; {', '.join(fixed)} cannot change",
                "a resumed run restores its options, weights, optimiser, EMA and RNG state",
                "drop those options (only --device and --workers may change), or start a new run "
                "from the checkpoint with --model RUN/weights/last.pt")
    elif not args.data:
        raise UnsupportedOptionError("poseexport train needs --data", "there is nothing to train on",
                                     "pass a dataset yaml, e.g. --data coco8-pose.yaml (or --resume RUN)")
    from ..paths import DEFAULT_MODEL

    model = args.model or DEFAULT_MODEL
    result = train(model, args.data, TrainOptions.from_kwargs(**given), resume=args.resume)
    from ..train.distributed import world_from_env

    if world_from_env()[0] != 0:
        return 0
    best = result.best or result.last
    fit = f", best fitness {result.best_fitness:.4f} at epoch {result.best_epoch}" if result.best_fitness \
        is not None else ""
    data = result.data
    print(f"trained {result.epochs_done}/{result.epochs} epochs{fit}; run in {result.save_dir} "
          f"(results.csv, results.png, weights/best.pt, weights/last.pt)", file=sys.stderr)
    print(f"next: poseexport val --model {best} --data {data}   |   "
          f"poseexport convert --model {best} --format onnx")
    return 0
