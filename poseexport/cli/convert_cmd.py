"""`poseexport convert`: export a model to one format, validated against PyTorch."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_model_argument, image_size, positive_int, unit_float
from .format_arguments import add_format_arguments, given_format_options


def register(sub) -> None:
    parser = sub.add_parser(
        "convert", help="export a model to a runtime format (validated against PyTorch)",
        description="Trace the model once, convert it with the format's toolchain, embed the "
                    "metadata, and validate the artifact against the PyTorch model on real images.",
        epilog="examples:\n  poseexport convert --format onnx\n"
               "  poseexport convert --format openvino --int8 --data ../shared/data/calib-people\n"
               "  poseexport formats   # what is available here, and each format's options",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_argument(parser)
    parser.add_argument("--format", "-f", required=True, help="torchscript, onnx, openvino, … (see `poseexport formats`)")
    parser.add_argument("--imgsz", type=image_size, default=640, help="input size, one side or H,W (default 640)")
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size of the exported input (default 1)")
    parser.add_argument("--dynamic", action="store_true", help="dynamic batch and image size")
    parser.add_argument("--half", action="store_true", help="fp16 precision")
    parser.add_argument("--int8", action="store_true", help="int8 precision (needs --data for calibration)")
    parser.add_argument("--data", help="calibration images: a dataset yaml or a folder of images")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the calibration images to use")
    parser.add_argument("--force", action="store_true", help="accept fewer than 32 calibration images")
    parser.add_argument("--no-golden", dest="golden", action="store_false",
                        help="don't ship golden.npz (the real test inputs and expected outputs for selftest)")
    parser.add_argument("--nms", action="store_true", help="embed NMS: output (B, max_det, 6+K*D)")
    parser.add_argument("--decode", choices=("graph", "host"), default=None,
                        help="graph (the default where the format offers it): the artifact outputs decoded "
                             "boxes and keypoints; host: it ends at the head's raw maps (one output per map and "
                             "level, described in its metadata) and poseexport decodes them in numpy — for "
                             "integer-only accelerators (edgetpu: host only), int8 TFLite and C++ ports")
    parser.add_argument("--conf", type=unit_float, default=0.25, help="NMS score threshold (with --nms)")
    parser.add_argument("--iou", type=unit_float, default=0.7, help="NMS IoU threshold (with --nms)")
    parser.add_argument("--max-det", type=positive_int, default=300, help="NMS rows (with --nms)")
    parser.add_argument("--device", default="cpu",
                        help="the device the artifact is for: cpu, cuda or cuda:N (default cpu); a format "
                             "that cannot run there is refused (see `poseexport formats`). Tracing and "
                             "validation run on the CPU; the device is recorded in the metadata")
    parser.add_argument("--out", help="artifact folder (default ./<model>_<format>[_<precision>]); an existing "
                                      "folder is replaced only if it is an unchanged poseexport artifact")
    parser.add_argument("--no-validate", dest="validate", action="store_false",
                        help="skip validation against the PyTorch model (its metadata then says 'not run')")
    add_format_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..contract.registry import get_backend
    from ..export.options import ExportOptions
    from ..export.pipeline import check_supported, export_model
    from ..model import PoseModel

    imgsz = (args.imgsz, args.imgsz) if isinstance(args.imgsz, int) else args.imgsz
    options = ExportOptions(format=args.format, imgsz=imgsz, batch=args.batch, dynamic=args.dynamic,
                            half=args.half, int8=args.int8, data=args.data, fraction=args.fraction,
                            golden=args.golden, nms=args.nms, decode=args.decode, conf=args.conf,
                            iou=args.iou, max_det=args.max_det, device=args.device,
                            out=Path(args.out) if args.out else None, force=args.force,
                            validate=args.validate, format_options=given_format_options(args))
    # what needs no model is checked before the checkpoint is read (flags spelled as given)
    options.check_format_options(cli=True)
    backend = get_backend(options.format)
    check_supported(backend, options.for_backend(backend))
    model = PoseModel(args.model)  # on the CPU: the export traces a CPU copy whatever --device says
    log = lambda text: print(text, file=sys.stderr)
    artifact = export_model(model, options, log=log)
    size = sum(f.stat().st_size for f in artifact.path.rglob("*") if f.is_file()) / 1e6
    print(f"{artifact.metadata.format} {artifact.metadata.precision.name}: {artifact.path} "
          f"({size:.1f} MB, {artifact.export_seconds:.1f} s)")
    validation = artifact.metadata.validation or {}
    if validation.get("status") == "deferred":  # it cannot run here: the check happens on the target
        print(f"next, on the target: poseexport selftest {artifact.path}")
    else:
        print(f"next: poseexport predict --model {artifact.path} --source IMAGE")
    return 0
