"""`python interrupt_launcher.py STAGE ARGS...`: the real `poseexport ARGS...`, with a real SIGINT
sent to itself when the export reaches STAGE (tests of interrupted exports).

Nothing in poseexport is replaced: one of its functions is wrapped so that the process
signals itself at that point, as a user pressing Ctrl-C there would.
- trace:  after torch.export, while the reference outputs are computed (inside trace_model)
- calibration: when the INT8 calibration images are about to be read
- golden: when the golden vector is about to be written
- rename: between moving the previous artifact aside and moving the new one in
"""
from __future__ import annotations

import os
import signal
import sys


def _interrupt() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def _before(module, name: str) -> None:
    real = getattr(module, name)

    def wrapper(*args, **kwargs):
        _interrupt()
        return real(*args, **kwargs)

    setattr(module, name, wrapper)


def _after_first_call(module, name: str) -> None:
    real = getattr(module, name)
    calls = []

    def wrapper(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(args)
        if len(calls) == 1:
            _interrupt()
        return result

    setattr(module, name, wrapper)


def main() -> int:
    stage, argv = sys.argv[1], sys.argv[2:]
    from poseexport.export import output_dir, pipeline, trace

    if stage == "trace":
        _before(trace, "_references")
    elif stage == "calibration":
        _before(pipeline, "load_calibration")
    elif stage == "golden":
        _before(pipeline, "write_golden")
    elif stage == "rename":
        _after_first_call(output_dir, "move")
    else:
        raise SystemExit(f"unknown stage {stage}")
    from poseexport.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
