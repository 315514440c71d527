"""`poseexport validate`: an artifact against its PyTorch source (tensors, keypoints, mAP)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import add_verify_argument, warn_if_unvalidated


def register(sub) -> None:
    parser = sub.add_parser(
        "validate", help="check an exported artifact against its PyTorch model",
        description="Compare an artifact with the PyTorch model it came from on fixed real images "
                    "(raw tensors per output group, matched persons, keypoint error in pixels, "
                    "score drift) and, with --data, the mAP difference on a dataset.")
    parser.add_argument("artifact", help="artifact folder or file (from poseexport convert)")
    parser.add_argument("--reference", help="the PyTorch checkpoint it came from (default: found "
                                            "by the name and sha256 recorded in its metadata)")
    parser.add_argument("--data", help="dataset yaml: also compare pose and box mAP with PyTorch")
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON")
    add_verify_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..artifact_model import ArtifactModel
    from ..contract.registry import get_backend
    from ..errors import ValidationFailedError
    from ..export.trace import reference_set
    from ..validate import validate_runner
    from .common import check_output_file
    from .reference_model import reference_model

    check_output_file(args.json, "--json")
    artifact = ArtifactModel(args.artifact, verify=args.verify)
    warn_if_unvalidated(artifact, args.artifact)
    meta = artifact.metadata
    model = reference_model(meta, args.reference)
    backend = get_backend(meta.format)
    report = validate_runner(artifact.runner, reference_set(model, meta),
                             backend.tolerances[meta.precision.name], meta.precision.name)
    print(report.table(), file=sys.stderr)
    result = {"artifact": str(Path(args.artifact).resolve()), "format": meta.format,
              "precision": meta.precision.name, "parity": report.to_dict()}
    if args.data:
        from ..validate.accuracy import compare_accuracy

        result["accuracy"] = compare_accuracy(model, artifact, args.data)
        acc = result["accuracy"]
        print(f"pose mAP50-95 {acc['artifact']['pose']['map50-95']:.4f} vs PyTorch "
              f"{acc['pytorch']['pose']['map50-95']:.4f} (Δ {acc['delta']['pose_map50-95']:+.4f}); "
              f"box Δ {acc['delta']['box_map50-95']:+.4f}", file=sys.stderr)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    if not report.passed:
        raise ValidationFailedError(f"{args.artifact} does not match its PyTorch model",
                                    "see the ✗ rows above", "re-export, or try another precision")
    return 0
