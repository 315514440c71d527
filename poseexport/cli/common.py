"""Options shared by several subcommands."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..paths import DEFAULT_MODEL


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL,
                        help="checkpoint (.pt, official or your own), or a config such as "
                             f"yolo11n-pose.yaml to build an untrained network (default: {DEFAULT_MODEL})")


def image_size(text: str) -> int | tuple[int, int]:
    """'640' or '480,640' / '480x640' (height, width)."""
    parts = text.replace("x", ",").split(",")
    try:
        sizes = [int(p) for p in parts if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an image size: use 640 or 480,640")
    if len(sizes) == 1:
        return sizes[0]
    if len(sizes) == 2:
        return (sizes[0], sizes[1])
    raise argparse.ArgumentTypeError(f"'{text}' is not an image size: use 640 or 480,640")


def unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is outside [0, 1]")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def add_inference_arguments(parser: argparse.ArgumentParser, conf: float) -> None:
    """--imgsz --conf --iou --max-det --batch --device, shared by predict and val."""
    parser.add_argument("--imgsz", type=image_size, default=None,
                        help="inference size, one side or H,W; a multiple of 32 (default 640, or "
                             "the size an artifact was exported at)")
    parser.add_argument("--conf", type=unit_float, default=conf, help=f"minimum person score (default {conf})")
    parser.add_argument("--iou", type=unit_float, default=0.7, help="NMS IoU threshold (default 0.7)")
    parser.add_argument("--max-det", type=positive_int, default=300, help="most persons per image (default 300)")
    parser.add_argument("--batch", type=positive_int, default=1, help="images per inference call (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:0 (default cpu)")


def write_output(target: str, text: str) -> None:
    """Write `text` to the file `target` (creating its folder), or to stdout when it is '-'."""
    if target == "-":
        print(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def add_verify_argument(parser: argparse.ArgumentParser) -> None:
    """--no-verify: open an artifact whose files no longer match its manifest.json."""
    parser.add_argument("--no-verify", dest="verify", action="store_false",
                        help="load an artifact even when its files differ from the sha256 in its "
                             "manifest.json (for artifacts you edited on purpose; default: refuse)")


def warn_if_unvalidated(model, where: str) -> None:
    """One stderr line when an artifact was exported without validation, or failed it."""
    from ..metadata import Metadata
    from ..validation_status import warning_line

    metadata = getattr(model, "metadata", None)  # a PoseModel (checkpoint) has none
    line = warning_line(metadata, where) if isinstance(metadata, Metadata) else None
    if line:
        print(line, file=sys.stderr)
