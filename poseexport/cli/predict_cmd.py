"""`poseexport predict`: persons and keypoints on images, folders, globs or videos."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (add_inference_arguments, add_model_argument, add_verify_argument,
                     warn_if_unvalidated, write_output)


def register(sub) -> None:
    parser = sub.add_parser(
        "predict", help="detect persons and keypoints in images or videos",
        description="Run a pose model on an image, a folder, a glob or a video. Coordinates in "
                    "the output are in original-image pixels.",
        epilog="example: poseexport predict --model yolo11n-pose.pt --source bus.jpg --save runs/predict")
    add_model_argument(parser)
    parser.add_argument("--source", "-s", required=True,
                        help="image file, folder of images, glob ('imgs/*.jpg') or video file")
    add_inference_arguments(parser, conf=0.25)
    parser.add_argument("--save", metavar="DIR", help="write annotated images (and videos) to DIR")
    parser.add_argument("--json", metavar="PATH", help="write detections as JSON to PATH ('-' for stdout)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no per-image lines, no progress bar")
    add_verify_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..artifact_model import open_model
    from ..predict.writer import AnnotatedWriter

    model = open_model(args.model, device=args.device, verify=args.verify)
    warn_if_unvalidated(model, args.model)
    stream = model.stream(args.source, imgsz=args.imgsz, conf=args.conf, iou=args.iou,
                          max_det=args.max_det, batch=args.batch)
    records, persons = [], 0
    writer = AnnotatedWriter(Path(args.save)) if args.save else None
    progress = tqdm(stream, desc="predict", unit="img", disable=args.quiet or None, file=sys.stderr,
                    leave=False)
    try:
        for result in progress:
            persons += len(result)
            records.append(result.to_dict())
            if writer:
                writer.add(result)
            if not args.quiet:
                progress.write(f"{result.path}: {len(result)} person(s), "
                               f"{result.speed.get('inference', 0):.1f} ms", file=sys.stderr)
    finally:
        progress.close()
        if writer:
            writer.close()
    if args.json:
        # one image per line: readable, and still one JSON list
        write_output(args.json, "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]")
    summary = f"{len(records)} image(s), {persons} person(s) with {args.model}"
    if writer:
        summary += f"; annotated output in {args.save}"
    if args.json and args.json != "-":
        summary += f"; JSON in {args.json}"
    print(summary, file=sys.stderr)
    return 0
