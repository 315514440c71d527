"""A backend that exports here and runs elsewhere, for the deferred-validation tests.

Its source is the pipeline's ONNX; it writes an ONNX copy carrying its own metadata and declares
that it runs on another OS than this one (TARGET_OS), as CoreML does on Linux. Its runner is
ONNX Runtime itself, so on the simulated target (tests replace
poseexport.contract.requirements.this_machine) selftest gives a real verdict.
Registered with POSEEXPORT_EXTRA_BACKENDS="elsewhere=elsewhere_double:ElsewhereBackend".
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from poseexport.backends.onnx import OnnxRunner, set_metadata
from poseexport.contract import Artifact, Availability, Backend, Capabilities, require
from poseexport.contract.requirements import availability_here, os_name

TARGET_OS = "darwin" if os_name(sys.platform) != "darwin" else "linux"  # never the OS the tests run on


class ElsewhereBackend(Backend):
    name = "elsewhere"
    title = "Elsewhere (test)"
    extra = "onnx"
    source = "onnx"
    suffix = ".onnx"
    capabilities = Capabilities(precisions=("fp32",), runs_on=(TARGET_OS,))
    runtime_versions = {"onnxruntime": ">=1.20"}

    def availability(self) -> Availability:  # runs only on TARGET_OS (this_machine() says where we are)
        return availability_here(self)

    def export_availability(self) -> Availability:
        return Availability(True)  # exporting is copying the pipeline's ONNX

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        onnx = require("onnx", "onnx")
        path = out_dir / f"{ctx.traced.facts.arch}{self.suffix}"
        shutil.copyfile(source.main_file, path)
        model = onnx.load(str(path))
        set_metadata(model, ctx.metadata)  # the copy says it is an 'elsewhere' artifact, with its requirements
        onnx.save(model, str(path))
        return Artifact(path=out_dir, main_file=path, metadata=ctx.metadata, files=[path])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        return OnnxRunner(artifact, device, threads)
