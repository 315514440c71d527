"""SavedModel -> .tflite with TensorFlow's TFLiteConverter. Runs in the converter process.

Precisions (request options "precision", "int8_kind"):
- fp32; fp16: fp16 weights, computed in fp32 where the CPU has no fp16 kernels;
- int8 "dynamic-range": int8 weights, float activations, float I/O;
- int8 "full-integer": every op int8, calibrated on the request's images, float32 I/O
  (a quantize op in front, dequantize ops behind);
- int8 "full-integer-io": the same with int8 input and outputs, for integer-only hardware
  (Edge TPU, NPUs); each output keeps its own scale and zero point;
- int8 "float-keypoints": full-integer with the keypoint branch (the ops that feed only the
  keypoint outputs, tflite_keypoint_branch.py) left in float, float32 I/O.
Afterwards the interpreter reports the real I/O tensors, which become the metadata's specs.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from poseexport.contract.converter_process import read_calibration, read_metadata
from poseexport.metadata import Metadata

from .tf_convert import SIGNATURE
from .tflite_metadata import with_entry

INT8_KINDS = ("dynamic-range", "full-integer", "full-integer-io", "float-keypoints")
CALIBRATIONS = ("percentile", "minmax")
PERCENTILE_IMAGES = 64  # images the percentile pass runs (it keeps every tensor of each)


def convert(request: dict) -> dict:
    import tensorflow as tf

    metadata = read_metadata(request)
    options = request["options"]
    precision, kind = options["precision"], options.get("int8_kind")
    converter = tf.lite.TFLiteConverter.from_saved_model(request["source_dir"], signature_keys=[SIGNATURE])
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if kind != "dynamic-range":
            images = read_calibration(request)
            if images is None:
                raise ValueError("full-integer int8 needs calibration images; none were passed")
            converter.representative_dataset = _representative(images, metadata.inputs[0].name)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if kind == "full-integer-io":
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
            if options.get("calibration", "minmax") == "percentile" or kind == "float-keypoints":
                return _finish(_quantized(converter, images, metadata, kind, options.get("calibration")),
                               request, metadata)
    return _finish(converter.convert(), request, metadata)


def _quantized(converter, images, metadata: Metadata, kind: str, calibration: str | None) -> bytes:
    """Calibrate, set the percentile ranges (unless min/max was asked for), quantise."""
    from .tflite_keypoint_branch import KEYPOINT_MEANINGS, keypoint_branch_nodes
    from .tflite_ranges import (
        calibrated_model,
        percentile_ranges,
        quantize,
        with_ranges,
    )

    calibrated = calibrated_model(converter)
    if calibration != "minmax":
        step = max(1, len(images) // PERCENTILE_IMAGES)  # evenly spread; min/max saw every image
        calibrated = with_ranges(calibrated, percentile_ranges(calibrated, images[::step], metadata.inputs[0].name))
    float_nodes = []
    if kind == "float-keypoints":
        keypoints = [o.name for o in metadata.outputs if o.meaning in KEYPOINT_MEANINGS]
        if not keypoints:
            raise ValueError("the float-keypoints kind needs the keypoint maps as outputs (--decode host)")
        float_nodes = keypoint_branch_nodes(calibrated, keypoints)
    return quantize(calibrated, int8_io=kind == "full-integer-io", float_nodes=float_nodes)


def _finish(data: bytes, request: dict, metadata: Metadata) -> dict:
    path = Path(request["out_dir"]) / f"{request['stem']}.tflite"
    path.write_bytes(data)
    metadata = with_io_specs(metadata, path)
    path.write_bytes(with_entry(data, metadata.to_json()))
    return {"model": str(path), "metadata": metadata.to_json()}


def _representative(images, input_name: str):
    import numpy as np

    def feed():
        for i in range(len(images)):
            yield {input_name: np.ascontiguousarray(images[i:i + 1].transpose(0, 2, 3, 1), dtype=np.float32)}
    return feed


def with_io_specs(metadata: Metadata, path: Path) -> Metadata:
    """The metadata's input and output specs as the interpreter reports them: dtype, and for
    integer tensors the scale and zero point (input: element = pixel * scale + zero_point)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner(SIGNATURE)
    inputs = runner.get_input_details()
    outputs = runner.get_output_details()
    spec = metadata.inputs[0]
    given = inputs[spec.name] if spec.name in inputs else next(iter(inputs.values()))
    dtype = _dtype_name(given["dtype"])
    if dtype in ("int8", "uint8"):
        scale, zero = _quantization(given)
        spec = replace(spec, dtype=dtype, scale=1.0 / (255.0 * scale), zero_point=zero)
    specs = []
    for out in metadata.outputs:
        if out.name not in outputs:
            raise RuntimeError(f"the TFLite model has no output {out.name} (it has {sorted(outputs)})")
        detail = outputs[out.name]
        if tuple(int(d) for d in detail["shape"]) != tuple(out.shape):
            raise RuntimeError(f"output {out.name}: TFLite gives {tuple(detail['shape'])}, expected {out.shape}")
        dtype = _dtype_name(detail["dtype"])
        if dtype in ("int8", "uint8"):
            scale, zero = _quantization(detail)
            out = replace(out, dtype=dtype, scale=scale, zero_point=zero)
        specs.append(out)
    return replace(metadata, inputs=(spec,), outputs=tuple(specs))


def _quantization(detail: dict) -> tuple[float, int]:
    scales = detail["quantization_parameters"]["scales"]
    zeros = detail["quantization_parameters"]["zero_points"]
    if len(scales) != 1:
        raise RuntimeError(f"tensor {detail['name']} is quantised per channel ({len(scales)} scales); "
                           "an I/O tensor needs one scale")
    return float(scales[0]), int(zeros[0])


def _dtype_name(dtype) -> str:
    import numpy as np

    return np.dtype(dtype).name
