"""The tensors a runtime takes and gives, as the artifact's metadata describes them.

Every predict / val / validate / selftest path works on one canonical form: a float32 NCHW RGB
batch in [0, 1] going in, the decoded (B, 4 + nc + K*D, N) float32 prediction (or the in-graph
NMS rows) coming out. `encode_input` turns the canonical batch into exactly what the runtime
takes (layout, dtype with scale and zero point, colour order), once per batch, so runners never
transpose or cast; `decode_outputs` dequantises every output and, for host-decode artifacts,
runs the numpy decoder (poseexport/decode/) on the raw head maps.
"""
from __future__ import annotations

import numpy as np

from poseexport.errors import BadArtifactError
from poseexport.metadata import InputSpec, Metadata, OutputSpec

DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8, "int8": np.int8}
UNIT_SCALE = 1 / 255  # the canonical batch is pixels / 255


def numpy_dtype(name: str, where: str = "the artifact") -> np.dtype:
    if name not in DTYPES:
        raise BadArtifactError(f"{where} declares the tensor dtype '{name}'",
                               f"poseexport handles {', '.join(DTYPES)}",
                               "re-export the artifact, or upgrade poseexport")
    return np.dtype(DTYPES[name])


def is_canonical(spec: InputSpec) -> bool:
    return (spec.layout == "NCHW" and spec.dtype == "float32" and spec.color == "RGB"
            and abs(spec.scale - UNIT_SCALE) < 1e-12 and spec.zero_point == 0)


def encode_input(spec: InputSpec, batch: np.ndarray) -> np.ndarray:
    """Canonical float32 NCHW RGB [0, 1] -> the tensor `spec` describes (a copy only if needed).
    The arithmetic runs on the NCHW batch (contiguous); the layout changes last, in one copy."""
    if is_canonical(spec):
        return np.ascontiguousarray(batch, dtype=np.float32)
    x = batch[:, ::-1] if spec.color == "BGR" else batch
    dtype = numpy_dtype(spec.dtype, "the artifact's input")
    if dtype.kind == "f" and abs(spec.scale - UNIT_SCALE) < 1e-12 and spec.zero_point == 0:
        values = x  # already pixels / 255
    elif dtype.kind == "f":
        values = x * np.float32(255.0 * spec.scale) + np.float32(spec.zero_point)
    else:
        info = np.iinfo(dtype)
        q = np.rint(x * np.float32(255.0 * spec.scale) + np.float32(spec.zero_point))  # x holds pixels / 255
        values = np.clip(q, info.min, info.max, out=q)
    if spec.layout == "NHWC":
        return _channels_last(values, dtype)
    return np.ascontiguousarray(values, dtype=dtype)


def _channels_last(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """NCHW -> contiguous NHWC of `dtype`, one channel at a time (twice as fast as a transpose copy)."""
    out = np.empty((x.shape[0], x.shape[2], x.shape[3], x.shape[1]), dtype)
    for c in range(x.shape[1]):
        out[..., c] = x[:, c]
    return out


def dequantize(spec: OutputSpec, value: np.ndarray) -> np.ndarray:
    """An output as float32: integer dtypes through (q - zero_point) * scale."""
    value = np.asarray(value)
    if value.dtype.kind in "iu":
        return ((value.astype(np.float32) - np.float32(spec.zero_point)) * np.float32(spec.scale))
    return value.astype(np.float32, copy=False)


def decode_outputs(metadata: Metadata, outputs: list[np.ndarray]) -> np.ndarray:
    """All outputs of one inference -> the decoded prediction (raw or NMS rows), float32."""
    specs = metadata.outputs
    if len(outputs) != len(specs):
        raise BadArtifactError(f"The runtime returned {len(outputs)} output(s), the metadata lists {len(specs)}",
                               "the metadata belongs to another export of this model",
                               "re-export the artifact with poseexport convert")
    if specs[0].kind != "head":
        return dequantize(specs[0], outputs[0])
    from poseexport.decode.host_decode import decode_head_maps

    return decode_head_maps(metadata, [dequantize(s, o) for s, o in zip(specs, outputs)])
