"""contract/tensors.py: the canonical batch encoded as each input spec says, outputs dequantised."""
from __future__ import annotations

import numpy as np
import pytest

from poseexport.contract.tensors import decode_outputs, dequantize, encode_input
from poseexport.errors import BadArtifactError
from poseexport.metadata import InputSpec, OutputSpec

PIXELS = np.random.default_rng(0).integers(0, 256, (2, 3, 4, 5)).astype(np.uint8)  # NCHW RGB
CANONICAL = PIXELS.astype(np.float32) / 255.0  # exactly how preprocess builds a batch


def spec(**kw) -> InputSpec:
    return InputSpec(name="images", shape=(2, 3, 4, 5), **kw)


def test_canonical_spec_passes_the_batch_through_without_a_copy():
    assert encode_input(spec(), CANONICAL) is CANONICAL


def test_nhwc_uint8_gives_back_the_exact_pixels():
    got = encode_input(spec(layout="NHWC", dtype="uint8", scale=1.0), CANONICAL)
    assert got.dtype == np.uint8 and got.shape == (2, 4, 5, 3) and got.flags.c_contiguous
    assert np.array_equal(got, PIXELS.transpose(0, 2, 3, 1))


def test_bgr_order_reverses_the_channels():
    got = encode_input(spec(color="BGR", dtype="uint8", scale=1.0), CANONICAL)
    assert np.array_equal(got, PIXELS[:, ::-1])


def test_int8_with_zero_point_and_clipping():
    got = encode_input(spec(dtype="int8", scale=1.0, zero_point=-128.0), CANONICAL)
    assert got.dtype == np.int8 and np.array_equal(got.astype(int), PIXELS.astype(int) - 128)
    clipped = encode_input(spec(dtype="int8", scale=1.0, zero_point=0.0), CANONICAL)
    assert clipped.max() == 127 and np.array_equal(clipped.astype(int), np.minimum(PIXELS, 127))


def test_float16_keeps_the_unit_range():
    got = encode_input(spec(dtype="float16"), CANONICAL)
    assert got.dtype == np.float16 and float(np.abs(got.astype(np.float32) - CANONICAL).max()) < 1e-3


def test_float_with_another_scale():
    got = encode_input(spec(scale=1.0, zero_point=-127.5), CANONICAL)
    assert got.dtype == np.float32 and np.allclose(got, PIXELS.astype(np.float32) - 127.5, atol=1e-4)


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(BadArtifactError, match="bfloat7"):
        encode_input(spec(dtype="bfloat7"), CANONICAL)


def test_integer_outputs_are_dequantised():
    out = OutputSpec("o", (1, 3), "raw", (), dtype="uint8", scale=0.5, zero_point=10)
    assert np.array_equal(dequantize(out, np.array([[10, 12, 255]], np.uint8)), [[0.0, 1.0, 122.5]])
    assert dequantize(out, np.ones((1, 3), np.float16)).dtype == np.float32


def test_a_missing_output_is_named():
    from poseexport.metadata import Metadata, ModelFacts, Precision

    facts = ModelFacts(task="pose", names={0: "person"}, kpt_shape=(17, 3), keypoint_names=(), skeleton=(),
                       flip_idx=(), stride=32, imgsz=(64, 64), arch="posenet-test")
    meta = Metadata(format="onnx", precision=Precision("fp32"), inputs=(spec(),),
                    outputs=(OutputSpec("output0", (1, 56, 84), "raw", ()),), model=facts, toolchain={},
                    source_sha256=None)
    with pytest.raises(BadArtifactError, match="returned 2 output"):
        decode_outputs(meta, [np.zeros(1), np.zeros(1)])
