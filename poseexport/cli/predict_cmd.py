"""`poseexport predict`: persons and keypoints on images, folders, globs or videos."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    add_inference_arguments,
    add_model_argument,
    add_verify_argument,
    check_output_file,
    check_output_folder,
    warn_if_unvalidated,
    write_output,
)

EXIT_SOME_INPUTS_FAILED = 1  # the run finished; some files could not be read (2: a user error stopped it)


def register(sub) -> None:
    parser = sub.add_parser(
        "predict", help="detect persons and keypoints in images or videos",
        description="Run a pose model on an image, a folder, a glob or a video. Coordinates in "
                    "the output are in original-image pixels.",
        epilog="example: poseexport predict --model yolo11n-pose.pt --source bus.jpg --save runs/predict\n\n"
               "exit status: 0 every input was processed; 1 the run finished but some files could not "
               "be read (each is named on stderr and appears in --json as {\"image\", \"error\", "
               "\"persons\": []}; the others were processed and written); 2 a user error stopped the "
               "command (bad option, missing source, a single unreadable file, unusable model).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_argument(parser)
    parser.add_argument("--source", "-s", required=True,
                        help="image file, folder of images, glob ('imgs/*.jpg') or video file")
    add_inference_arguments(parser, conf=0.25)
    parser.add_argument("--save", metavar="DIR",
                        help="write annotated images (and videos) to DIR (never overwrites a file)")
    parser.add_argument("--json", metavar="PATH", help="write detections as JSON to PATH ('-' for stdout)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no per-image lines, no progress bar")
    add_verify_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..model_opener import open_model
    from ..predict.sources import read_image, resolve_sources
    from ..predict.writer import AnnotatedWriter, check_targets

    # the model first (its name is the likeliest typo), then everything checked before inference
    model = open_model(args.model, device=args.device, verify=args.verify)
    warn_if_unvalidated(model, args.model)
    plan = resolve_sources(args.source)
    if len(plan.items) == 1 and plan.items[0][0] == "image":
        read_image(plan.items[0][1])  # a single unreadable image is the whole input: a user error
    check_output_file(args.json, "--json")
    if args.save:
        check_output_folder(args.save, "--save")
        check_targets(Path(args.save), plan.names())
    stream = model.stream(plan, imgsz=args.imgsz, conf=args.conf, iou=args.iou,
                          max_det=args.max_det, batch=args.batch, errors="report")
    records, persons, failed = [], 0, []
    writer = AnnotatedWriter(Path(args.save)) if args.save else None
    progress = tqdm(stream, desc="predict", unit="img", disable=args.quiet or None, file=sys.stderr,
                    leave=False)
    try:
        for result in progress:
            records.append(result.to_dict())
            if result.error:
                failed.append(result.path)
                progress.write(f"{result.path}: skipped, {result.error.splitlines()[0]}", file=sys.stderr)
                continue
            persons += len(result)
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
        write_output(args.json, "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]", "--json")
    summary = f"{len(records) - len(failed)} image(s), {persons} person(s) with {args.model}"
    if writer and writer.written:
        summary += f"; annotated output in {args.save}"
    if args.json and args.json != "-":
        summary += f"; JSON in {args.json}"
    print(summary, file=sys.stderr)
    if failed:
        where = f"named above, and entries with an 'error' field in {args.json}" if args.json else "named above"
        print(f"poseexport predict: {len(failed)} file(s) could not be read ({where}): "
              + ", ".join(failed[:5]) + (" …" if len(failed) > 5 else ""), file=sys.stderr)
        return EXIT_SOME_INPUTS_FAILED
    return 0
