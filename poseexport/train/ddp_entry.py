"""`torchrun --nproc_per_node N -m poseexport.train.ddp_entry ARGS` = `poseexport train ARGS` on N ranks.

The trainer reads RANK / LOCAL_RANK / WORLD_SIZE from torchrun's environment itself, so
`torchrun --nproc_per_node N $(which poseexport) train ARGS` works too; this entry point
saves typing the script path.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ..cli.main import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
