"""Runs in the converter process: MNN's compiled converter and quantiser (`_tools`), never the
`mnnconvert` / `mnnquant` console scripts or `MNN.tools`: those import a usage logger that runs
`pip install aliyun-log-python-sdk` (downgrading protobuf) and sends logs when it can.

Request options: "precision" (fp32 / fp16 / int8), "int8_kind" ("full-integer": int8 weights and
activations from MNN's quantiser, calibrated on the request's images; "float-keypoints": the same
with the keypoint branch left in float, mnn_keypoint_branch.py; "weight-only": int8 weights,
float compute), "feature_method" (the quantiser's activation method).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from poseexport.contract.converter_process import read_calibration, read_metadata

from .mnn_metadata import read_biz_code


def convert(request: dict) -> dict:
    import _tools  # MNN's compiled tools; see the module docstring for why not MNN.tools

    options = request["options"]
    out_dir, run_dir = Path(request["out_dir"]), Path.cwd()
    model = out_dir / f"{request['stem']}.mnn"
    # the metadata, compact, in MNN's bizCode slot
    tag = json.dumps(json.loads(read_metadata(request).to_json()), separators=(",", ":"))
    precision, kind = options["precision"], options.get("int8_kind")
    flags = {"fp16": ["--fp16"], "weight-only": ["--weightQuantBits", "8"]}.get(kind or precision, [])
    calibrated = kind in ("full-integer", "float-keypoints")
    first = run_dir / "float.mnn" if calibrated else model
    _mnnconvert(_tools, ["-f", "ONNX", "--modelFile", request["source"], "--MNNModel", str(first),
                         "--bizCode", tag, *flags], first)
    report = {}
    if calibrated:
        float_ops = _keypoint_branch(request) if kind == "float-keypoints" else []
        config = calibration_config(request, run_dir, options, float_ops)
        quantized = run_dir / "quantized.mnn"
        _tools.mnnquant(["mnnquant", str(first), str(quantized), str(config)])  # argv, as mnnconvert
        if not quantized.is_file() or quantized.stat().st_size == 0:
            raise RuntimeError("MNN's quantiser wrote no model; its log above says why")
        # the quantiser writes its own bizCode: the metadata goes back in through the converter
        _mnnconvert(_tools, ["-f", "MNN", "--modelFile", str(quantized), "--MNNModel", str(model),
                             "--bizCode", tag], model)
        report["config"] = json.loads(config.read_text())
        report["config"].pop("path")
    if read_biz_code(model) != tag:
        raise RuntimeError(f"{model.name} lost its metadata: its bizCode is not the one written")
    if "MNN.tools" in sys.modules:  # the package whose logger runs pip must never have loaded
        raise RuntimeError("MNN.tools was imported during the conversion")
    return {"model": str(model), **report}


def _mnnconvert(tools, args: list[str], made: Path) -> None:
    if made.exists():
        made.unlink()
    tools.mnnconvert(["mnnconvert", *args])
    if not made.is_file() or made.stat().st_size == 0:
        raise RuntimeError(f"MNN's converter wrote no {made.name}; its log above says why")


def _keypoint_branch(request: dict) -> list[str]:
    from .mnn_keypoint_branch import KEYPOINT_MEANINGS, keypoint_branch_ops

    names = [o.name for o in read_metadata(request).outputs if o.meaning in KEYPOINT_MEANINGS]
    if not names:
        raise ValueError("the float-keypoints kind needs the keypoint maps as outputs (--decode host)")
    return keypoint_branch_ops(request["source"], names)


def calibration_config(request: dict, run_dir: Path, options: dict, float_ops: list[str]) -> Path:
    """MNN's quantiser reads image files and a JSON of how to preprocess them. The images are
    our letterboxed calibration tensors written losslessly at exactly the input size, so MNN's
    resize is the identity and its `(pixel - mean) * normal` reproduces our [0, 1] scaling."""
    import cv2
    import numpy as np

    images = read_calibration(request)
    if images is None:
        raise ValueError("full-integer int8 needs calibration images; none were passed")
    folder = run_dir / "calibration"
    folder.mkdir()
    for i, image in enumerate(images):
        rgb = np.clip(np.rint(np.transpose(image, (1, 2, 0)) * 255.0), 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(folder / f"{i:05d}.png"), rgb[:, :, ::-1]):  # cv2 writes BGR
            raise RuntimeError(f"could not write calibration image {i} into {folder}")
    _, _, height, width = images.shape
    config = {"format": "RGB", "mean": [0.0, 0.0, 0.0], "normal": [1 / 255.0] * 3,
              "width": int(width), "height": int(height), "path": str(folder) + "/",
              "used_image_num": len(images), "feature_quantize_method": options["feature_method"],
              "weight_quantize_method": "MAX_ABS", "skip_quant_op_names": float_ops}
    path = run_dir / "quantization.json"
    path.write_text(json.dumps(config, indent=2))
    return path
