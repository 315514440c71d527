"""ONNX fp16: weights and activations in half precision, inputs and outputs kept fp32."""
from __future__ import annotations


def convert_fp16(model):
    # ONNX Runtime ships a graph-level fp16 converter; keep_io_types inserts the casts at
    # the edges so callers keep feeding float32 images and reading float32 outputs.
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
