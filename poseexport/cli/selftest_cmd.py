"""`poseexport selftest ARTIFACT`: run an artifact on the golden vector it carries.

The check itself (poseexport/selftest.py) imports numpy and the runtime only, so this
command runs where torch cannot be installed; `python -m poseexport selftest ARTIFACT`
is the same command without the console script.
"""
from __future__ import annotations

import argparse

from .common import add_verify_argument


def register(sub) -> None:
    parser = sub.add_parser(
        "selftest", help="check an artifact on this device against the golden vector it carries",
        description="Run the artifact on the real input stored in its golden.npz and compare the raw "
                    "outputs and decoded persons with the PyTorch outputs stored with it, within the "
                    "artifact's tolerances (the ones its export was validated with). For an artifact exported "
                    "where its runtime cannot run (validation 'deferred' in its metadata), this is the "
                    "verdict, given on the machine it is for; the artifact is not changed.",
        epilog="exit status: 0 every check passed; 1 a check failed; 2 the artifact cannot be used.\n"
               "needs numpy and the artifact's runtime only (no torch); the same command: "
               "python -m poseexport selftest ARTIFACT",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", help="artifact folder (as written by poseexport convert)")
    parser.add_argument("--device", default="cpu", help="device to run on (default cpu)")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    add_verify_argument(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..selftest import selftest
    from .common import check_output_file

    check_output_file(args.json, "--json")
    return 0 if selftest(args.artifact, args.device, args.json, verify=args.verify) else 1
