"""Backends that fail the hard way, for the benchmark's isolation test.

Registered in the cell processes through POSEEXPORT_EXTRA_BACKENDS (this folder on
PYTHONPATH): `segfault` kills its own process with SIGSEGV while exporting, as a crashing
native converter would; `hang` never returns from export, as a deadlocked one would.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from poseexport.contract import Artifact, Backend, Capabilities


class SegfaultBackend(Backend):
    name = "segfault"
    title = "Segfault (test)"
    suffix = ".bin"
    capabilities = Capabilities(precisions=("fp32",))

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        os.kill(os.getpid(), signal.SIGSEGV)
        raise AssertionError("unreachable: the process is gone")


class HangBackend(Backend):
    name = "hang"
    title = "Hang (test)"
    suffix = ".bin"
    capabilities = Capabilities(precisions=("fp32",))

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        while True:  # a deadlocked converter: only the benchmark's timeout ends this
            time.sleep(1)
