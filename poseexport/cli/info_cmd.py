"""`poseexport info`: what a model is (architecture, parameters, names, keypoints)."""
from __future__ import annotations

import argparse
import copy
import json

from .common import add_model_argument


def register(sub) -> None:
    parser = sub.add_parser("info", help="describe a model: layers, parameters, names, keypoints",
                            description="Load a checkpoint or build a config and describe it; an "
                                        "exported artifact is described by its metadata.")
    add_model_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..model import PoseModel

    model = PoseModel(args.model)
    info = model.info()
    if not isinstance(model, PoseModel):  # an exported artifact (an ArtifactModel): no network to count
        print(json.dumps(info, indent=2) if args.json else
              f"{info['model']}: {info['format']} {info['precision']} artifact, input {info['input']}, "
              f"validation {info['validation']}\n  classes {info['names']}, kpt_shape {info['kpt_shape']}")
        return 0
    net = model.net if model.net.is_fused else copy.deepcopy(model.net).eval().fuse()
    fused_params = net.num_parameters()
    info["parameters_fused"] = fused_params
    if model.checkpoint is not None:
        info["checkpoint"] = {"path": str(model.checkpoint.source), "sha256": model.checkpoint.sha256,
                              "origin": model.checkpoint.origin,
                              "producer": model.checkpoint.facts.get("producer")}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['model']}: {info['layers']} layers, {info['parameters']:,} parameters "
          f"({fused_params:,} fused), strides {info['strides']}")
    print(f"  classes {info['names']}, kpt_shape {info['kpt_shape']}")
    if "checkpoint" in info:
        ck = info["checkpoint"]
        print(f"  from {ck['path']} ({ck['origin']}, {ck['producer'] or 'poseexport'}), "
              f"sha256 {ck['sha256'][:16]}…")
    return 0
