"""Options shared by several subcommands."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..errors import UnsupportedOptionError
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
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda or cuda:N (default cpu); an artifact whose runtime cannot use "
                             "the device is refused, never run elsewhere")


def check_output_file(target: str | None, option: str) -> None:
    """Refuse, before any work, an output file that cannot be written ('-' is stdout)."""
    if not target or target == "-":
        return
    path = Path(target)
    if path.is_dir():
        raise UnsupportedOptionError(f"{option} {target} is a folder", f"{option} names a file to write",
                                     f"pass a file path, e.g. {option} {path / 'out.json'}")
    _check_writable_folder(path.parent, option, target)


def check_output_folder(target: str | None, option: str) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be created or written."""
    if not target:
        return
    path = Path(target)
    if path.exists() and not path.is_dir():
        raise UnsupportedOptionError(f"{option} {target} is an existing file", f"{option} names a folder",
                                     f"pass a new or existing folder instead, e.g. {option} runs/out")
    _check_writable_folder(path, option, target)


def _check_writable_folder(folder: Path, option: str, target: str) -> None:
    """The folder (or the nearest existing folder above it, where it would be created) accepts a
    new file: probed with a temporary file, since os.access says yes to root on read-only mounts."""
    existing = folder if folder != Path("") else Path(".")
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UnsupportedOptionError(f"{option} {target} cannot be written",
                                     f"the path {existing} is a file, so no folder can be made inside it",
                                     "pass a path under a folder, not under a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise UnsupportedOptionError(f"{option} {target} cannot be written",
                                     f"the folder {existing} does not accept new files ({err.strerror or err})",
                                     "pass a path in a folder you can write to") from err


def write_output(target: str, text: str, option: str = "output") -> None:
    """Write `text` to the file `target` (creating its folder), or to stdout when it is '-'."""
    if target == "-":
        print(text)
        return
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as err:
        raise UnsupportedOptionError(f"Could not write {option} {target}", err.strerror or str(err),
                                     "pass a path in a folder you can write to, with free space") from err


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
