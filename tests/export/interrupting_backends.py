"""ONNX backends that press Ctrl-C on themselves, for the interrupted-export tests.

Registered in the CLI's process through POSEEXPORT_EXTRA_BACKENDS (this folder on PYTHONPATH).
Both are the real ONNX backend; one sends SIGINT to its own process while converting, the
other when the export opens the staged artifact to validate it (the only `load` of an export).
"""
from __future__ import annotations

import os
import signal
import time

from poseexport.backends.onnx import OnnxBackend


def interrupt_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)  # KeyboardInterrupt arrives here; the test fails on its timeout otherwise


class InterruptWhileConverting(OnnxBackend):
    name = "onnx_ctrl_c_convert"

    def export(self, ctx, source, out_dir):
        artifact = super().export(ctx, source, out_dir)  # a real file is half-way to an artifact
        interrupt_self()
        return artifact


class InterruptWhileValidating(OnnxBackend):
    name = "onnx_ctrl_c_validate"

    def load(self, artifact, device="cpu", threads=None):
        runner = super().load(artifact, device, threads)
        interrupt_self()
        return runner


class CrashWhileConverting(OnnxBackend):
    name = "onnx_crash"

    def export(self, ctx, source, out_dir):
        super().export(ctx, source, out_dir)
        raise RuntimeError("the converter crashed (simulated, after writing its file)")
