"""`poseexport val`: box and pose mAP of a model or exported artifact on a YOLO-pose dataset."""
from __future__ import annotations

import argparse
import json
import sys

from .common import (
    add_inference_arguments,
    add_model_argument,
    add_verify_argument,
    check_output_file,
    check_output_folder,
    warn_if_unvalidated,
    write_output,
)


def register(sub) -> None:
    parser = sub.add_parser(
        "val", help="box and pose mAP on a YOLO-pose dataset",
        description="Validate a checkpoint or an exported artifact on a dataset yaml: YOLO-style "
                    "box and pose precision, recall, mAP50, mAP75, mAP50-95, and, when the dataset "
                    "ships a COCO keypoints JSON, the COCO protocol (ours and the official evaluator).",
        epilog="example: poseexport val --model yolo11n-pose.pt --data coco8-pose.yaml --rect")
    add_model_argument(parser)
    parser.add_argument("--data", "-d", required=True, help="dataset yaml (paths relative to the yaml)")
    add_inference_arguments(parser, conf=0.001)
    parser.add_argument("--rect", action="store_true",
                        help="letterbox each batch to a minimal stride-aligned rectangle instead of a square")
    parser.add_argument("--rect-pad", type=float, default=0.0, metavar="STRIDES",
                        help="with --rect: extra padding of each batch shape in strides; 0.5 reproduces "
                             "the reference YOLO val loader (default 0)")
    parser.add_argument("--split", default="val", help="dataset split to evaluate (default val)")
    parser.add_argument("--save-dir", metavar="DIR", help="write PR-curve plots and predictions.json to DIR")
    parser.add_argument("--json", metavar="PATH", help="write COCO-format predictions to PATH")
    parser.add_argument("--report", metavar="PATH", help="write the metrics as JSON to PATH ('-' for stdout)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_verify_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..model_opener import open_model
    from ..val import validate_model

    check_output_file(args.json, "--json")
    check_output_file(args.report, "--report")
    check_output_folder(args.save_dir, "--save-dir")
    model = open_model(args.model, device=args.device, verify=args.verify)
    warn_if_unvalidated(model, args.model)
    options = {"batch": args.batch, "conf": args.conf, "iou": args.iou, "max_det": args.max_det,
               "rect": args.rect, "rect_pad": args.rect_pad, "split": args.split,
               "save_dir": args.save_dir, "json_path": args.json, "progress": not args.quiet}
    if args.imgsz is not None:
        options["imgsz"] = args.imgsz
    metrics = validate_model(model, args.data, **options)
    report = metrics.dataset
    print(f"{args.model} on {args.data} ({report.summary()})", file=sys.stderr)
    for line in report.issue_lines(limit=10):
        print(f"  skipped/warned: {line}", file=sys.stderr)
    print(metrics.table())
    for note in metrics.notes:
        print(f"note: {note}", file=sys.stderr)
    for path in metrics.files:
        print(f"wrote {path}", file=sys.stderr)
    if args.report:
        write_output(args.report, json.dumps(metrics.to_dict(), indent=2), "--report")
    return 0
