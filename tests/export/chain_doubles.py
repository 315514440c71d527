"""Backends that declare an upstream with a precision (contract/source.py), for the chain tests.

- `Int8ChainBackend` ("onnx-int8-chain"): source `Source("onnx", precision="int8")`; ships the
  upstream's file with its own metadata (the way an Edge TPU backend starts from a full-int8 TFLite).
- `BrokenOnnxBackend` ("broken-onnx"): a real ONNX artifact whose runner moves every keypoint by
  5 px, so its validation really fails; `OnBrokenBackend` ("on-broken") builds on it.

Registered through POSEEXPORT_EXTRA_BACKENDS (this folder is on sys.path under pytest).
"""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from poseexport.backends.onnx import OnnxBackend, OnnxRunner, set_metadata
from poseexport.contract import Artifact, Backend, Capabilities, Source


def copy_with_metadata(source, ctx, out_dir: Path, suffix: str) -> Artifact:
    import onnx

    path = out_dir / f"{ctx.traced.facts.arch}_{suffix}.onnx"
    shutil.copy(source.main_file, path)
    model = onnx.load(str(path))
    set_metadata(model, ctx.metadata)
    onnx.save(model, str(path))
    return Artifact(path=out_dir, main_file=path, metadata=ctx.metadata, files=[path])


class Int8ChainBackend(Backend):
    name = "onnx-int8-chain"
    title = "int8 chain test double"
    extra = "onnx"
    source = Source("onnx", precision="int8")
    suffix = ".onnx"
    capabilities = Capabilities(precisions=("int8",))
    requires = ("onnx", "onnxruntime")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        ctx.metadata = replace(ctx.metadata, precision=source.metadata.precision,
                               options={**ctx.metadata.options, "source": "onnx int8"})
        return copy_with_metadata(source, ctx, out_dir, "chain")

    def load(self, artifact, device="cpu", threads=None):
        return OnnxRunner(artifact, device, threads)


class ShiftedRunner(OnnxRunner):
    def infer(self, inputs):
        outs = super().infer(inputs)
        outs[0][:, 5::3] += 5.0  # every keypoint x (channels 5, 8, ...: nc = 1, D = 3)
        return outs


class BrokenOnnxBackend(OnnxBackend):
    name = "broken-onnx"
    title = "broken ONNX test double"

    def load(self, artifact, device="cpu", threads=None):
        return ShiftedRunner(artifact, device, threads)


class OnBrokenBackend(Backend):
    name = "on-broken"
    title = "built-on-broken test double"
    extra = "onnx"
    source = "broken-onnx"
    suffix = ".onnx"
    requires = ("onnx", "onnxruntime")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        return copy_with_metadata(source, ctx, out_dir, "on_broken")

    def load(self, artifact, device="cpu", threads=None):
        return OnnxRunner(artifact, device, threads)


DOUBLES = {"onnx-int8-chain": "chain_doubles:Int8ChainBackend", "broken-onnx": "chain_doubles:BrokenOnnxBackend",
           "on-broken": "chain_doubles:OnBrokenBackend"}
