"""Argument parsing, dispatch, and the one place user errors become exit codes."""
from __future__ import annotations

import argparse
import sys

from ..errors import PoseExportError
from ..version import __version__
from . import (
    benchmark_cmd,
    convert_cmd,
    formats_cmd,
    info_cmd,
    predict_cmd,
    selftest_cmd,
    train_cmd,
    val_cmd,
    validate_cmd,
)

COMMANDS = (train_cmd, predict_cmd, val_cmd, convert_cmd, validate_cmd, benchmark_cmd, selftest_cmd,
            formats_cmd, info_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poseexport",
        description="Train YOLO-style pose networks and compile them for every runtime, "
                    "checked against PyTorch.",
        epilog="Weights: a bare name such as yolo11n-pose.pt is looked up locally, then in "
               "$POSEEXPORT_WEIGHTS_DIR, then in the user cache, then downloaded.")
    parser.add_argument("--version", action="version", version=f"poseexport {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except PoseExportError as err:
        print(f"poseexport {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"poseexport {args.command}: interrupted", file=sys.stderr)
        return 130
