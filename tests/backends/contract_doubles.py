"""Test doubles of the backend contract that wrap a real runtime (ONNX Runtime).

`NhwcUint8Backend` ("nhwc-u8"): an artifact whose input is NHWC uint8 pixels, like a TFLite or
Edge TPU model's. Its ONNX graph starts with Cast -> Mul(1/255) -> Transpose in front of the
fp32 network; its runner refuses anything but exactly that tensor, so every path that runs it
(validation, selftest, predict, val) proves the core encodes inputs as the spec says.

Registered through POSEEXPORT_EXTRA_BACKENDS (this folder is on sys.path under pytest).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from poseexport.backends.onnx import OnnxRunner, read_metadata, set_metadata
from poseexport.contract import Artifact, Backend, Capabilities
from poseexport.errors import BadInputError


class NhwcUint8Backend(Backend):
    name = "nhwc-u8"
    title = "NHWC-uint8 test double"
    extra = "onnx"
    source = "onnx"
    suffix = ".onnx"
    capabilities = Capabilities(precisions=("fp32",), layout="NHWC")
    requires = ("onnx", "onnxruntime")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        import onnx
        from onnx import TensorProto, helper

        model = onnx.load(str(source.main_file))
        graph = model.graph
        old = graph.input[0]
        dims = [d.dim_value or d.dim_param for d in old.type.tensor_type.shape.dim]  # N, C, H, W
        new = helper.make_tensor_value_info("pixels", TensorProto.UINT8, [dims[0], dims[2], dims[3], dims[1]])
        scale = helper.make_tensor("inv255", TensorProto.FLOAT, [], [1 / 255])
        graph.initializer.append(scale)
        prefix = [helper.make_node("Cast", ["pixels"], ["pixels_f"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", ["pixels_f", "inv255"], ["pixels_01"]),
                  helper.make_node("Transpose", ["pixels_01"], [old.name], perm=[0, 3, 1, 2])]
        graph.input.remove(old)
        graph.input.insert(0, new)
        for node in reversed(prefix):
            graph.node.insert(0, node)
        spec = replace(ctx.metadata.inputs[0], name="pixels", dtype="uint8", scale=1.0, zero_point=0.0)
        ctx.metadata = replace(ctx.metadata, inputs=(spec,))
        set_metadata(model, ctx.metadata)
        path = out_dir / f"{ctx.traced.facts.arch}_nhwc_u8.onnx"
        onnx.save(model, str(path))
        return Artifact(path=out_dir, main_file=path, metadata=ctx.metadata, files=[path])

    def load(self, artifact, device="cpu", threads=None):
        return StrictNhwcRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        meta = read_metadata(path) if path.is_file() else None
        return meta is not None and meta.format == self.name

    def read_native_metadata(self, path: Path):
        return read_metadata(path)


class StrictNhwcRunner(OnnxRunner):
    """ONNX Runtime, but anything except (N, H, W, 3) uint8 is refused: the core must encode."""

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        if inputs.dtype != np.uint8 or inputs.ndim != 4 or inputs.shape[3] != 3:
            raise BadInputError(f"the NHWC-uint8 double got {inputs.dtype} {inputs.shape}",
                                "the core did not encode the input as the spec says", "fix contract/tensors.py")
        return super().infer(inputs)


