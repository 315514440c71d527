"""The TF.js converter: SavedModel -> graph model (model.json + weight shards). Runs in the TF.js
converter's own Python (backends/tfjs_env.py) through run_converter(python=...), never in the
torch process; imports only the standard library, numpy and poseexport's core at import time.

tensorflowjs 4.22 is installed there with --no-deps, so two of its imports are absent: its
`tensorflowjs/__init__.py` pulls in the Keras, JAX and TF Decision Forests converters, and the
SavedModel converter imports tensorflow_decision_forests and tensorflow_hub at the top without
using them for a plain SavedModel. `_saved_model_converter` therefore loads the SavedModel
converter module without running the package __init__ files, with empty stand-ins for those
two modules in this process only (nothing in site-packages is edited).

Quantisation is tensorflowjs's weight quantisation: weights are stored as float16 or as uint8
(affine per tensor: min and scale) and turned back into float32 when the model loads; the
graph computes in float32. For uint8 only the convolution kernels are quantised (the 4-D
weights), and not those of the last two convolutions before each output (the head's box,
score and keypoint branches, whose errors reach the pixels directly): the small constants of
the box and keypoint decode (anchor grid, strides) stay float32, since one 8-bit scale over an
anchor grid of 0.5..79.5 moves anchors by up to 0.15 cells, which is 5 px at stride 32.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import types
from pathlib import Path

from poseexport.contract.converter_process import read_metadata

UNUSED_IMPORTS = ("tensorflow_decision_forests", "tensorflow_hub")
SIGNATURE = "serving_default"
QUANTIZE = {"fp32": None, "fp16": "float16", "int8": "uint8"}  # poseexport precision -> tensorflowjs dtype
OUTPUT_KEYS = "poseexport_output_keys"  # in model.json's userDefinedMetadata: signature keys, metadata order
CONV_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}
# uint8: the last two convolutions before each output keep float32 kernels (yolo11n-pose at 640,
# matched keypoints on 7 photos: every kernel uint8 4.6 px, all but the last 4.2 px, all but the
# last two 3.3 px, for 0.6 MB more than 3.1 MB)
FLOAT_OUTPUT_CONVS = 2


def convert(request: dict) -> dict:
    """request options: precision (fp32 | fp16 | int8). Writes model.json and its shards into
    out_dir; returns their paths, the output keys, what was quantised and the versions."""
    import tensorflow as tf

    converter = _saved_model_converter()
    metadata = read_metadata(request)
    saved_model = Path(request["source"]).parent
    out = Path(request["out_dir"])
    keys = output_keys(_signature_outputs(saved_model), [o.name for o in metadata.outputs])
    dtype = QUANTIZE[request["options"]["precision"]]
    quantized: list[str] = []
    dtype_map = None
    if dtype is not None:
        trial = Path("fp32-trial")  # the converter process's own run folder (its cwd)
        converter.convert_tf_saved_model(str(saved_model), str(trial), signature_def=SIGNATURE,
                                         use_structured_outputs_names=True)
        quantized = weights_to_quantize(json.loads((trial / "model.json").read_text()), dtype)
        dtype_map = {dtype: [_fnmatch_literal(name) for name in quantized]}
    user_metadata = {"poseexport": json.loads(metadata.to_json()), OUTPUT_KEYS: keys}
    converter.convert_tf_saved_model(str(saved_model), str(out), signature_def=SIGNATURE,
                                     quantization_dtype_map=dtype_map, use_structured_outputs_names=True,
                                     metadata=user_metadata)
    model = out / "model.json"
    shards = [out / p for group in json.loads(model.read_text())["weightsManifest"] for p in group["paths"]]
    return {"model": str(model), "files": [str(model), *map(str, shards)], "output_keys": keys,
            "quantized": {"dtype": dtype, "weights": len(quantized)},
            "versions": {"tensorflowjs": _tensorflowjs_version(), "tensorflow": tf.__version__}}


def output_keys(signature: list[str], names: list[str]) -> list[str]:
    """The SavedModel's signature output keys in the order of the metadata's outputs: by name,
    where the keys are the names up to punctuation (onnx2tf writes output0 as output_0)."""
    by_name = {_plain(key): key for key in signature}
    if len(by_name) == len(signature) and all(_plain(n) in by_name for n in names) and len(names) == len(signature):
        return [by_name[_plain(n)] for n in names]
    if len(signature) == len(names) == 1:
        return list(signature)
    raise ValueError(f"the SavedModel's outputs {sorted(signature)} cannot be matched to the metadata's "
                     f"outputs {names}")


def weights_to_quantize(model_json: dict, dtype: str) -> list[str]:
    """float16: every float32 weight; uint8: the float32 convolution kernels (4-D), except the
    last FLOAT_OUTPUT_CONVS convolutions before each output (see the module docstring)."""
    kept = set() if dtype == "float16" else output_conv_kernels(model_json, FLOAT_OUTPUT_CONVS)
    names = []
    for group in model_json["weightsManifest"]:
        for weight in group["weights"]:
            if weight["dtype"] != "float32" or weight["name"] in kept:
                continue
            if dtype == "float16" or len(weight["shape"]) == 4:
                names.append(weight["name"])
    return names


def output_conv_kernels(model_json: dict, depth: int) -> set[str]:
    """The kernels of the last `depth` convolutions on every path into a model output: walk the
    graph back from each output, through any op, until `depth` convolutions were passed."""
    nodes = {n["name"]: n for n in model_json["modelTopology"].get("node", [])}
    outputs = [o["name"].split(":")[0] for o in model_json.get("signature", {}).get("outputs", {}).values()]
    kernels, seen = set(), set()
    stack = [(name, 0) for name in outputs]
    while stack:
        name, passed = stack.pop()
        if (name, passed) in seen or name not in nodes or passed >= depth:
            continue
        seen.add((name, passed))
        node = nodes[name]
        inputs = [i.lstrip("^").split(":")[0] for i in node.get("input", [])]
        if node["op"] in CONV_OPS:
            kernels.add(inputs[1])
            stack.append((inputs[0], passed + 1))
        else:
            stack += [(i, passed) for i in inputs]
    return kernels


def _plain(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _fnmatch_literal(name: str) -> str:
    """A pattern that fnmatch matches to `name` only (tensorflowjs takes patterns)."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _signature_outputs(saved_model: Path) -> list[str]:
    from tensorflow.python.tools import saved_model_utils

    meta_graph = saved_model_utils.get_meta_graph_def(str(saved_model), "serve")
    if SIGNATURE not in meta_graph.signature_def:
        raise ValueError(f"the SavedModel in {saved_model} has no '{SIGNATURE}' signature "
                         f"(it has {', '.join(meta_graph.signature_def) or 'none'})")
    return list(meta_graph.signature_def[SIGNATURE].outputs)


def _saved_model_converter():
    """tensorflowjs.converters.tf_saved_model_conversion_v2, loaded without the package __init__
    files (they import the Keras, JAX and Decision Forests converters) and with empty stand-ins
    for the two modules it imports but does not use for a SavedModel."""
    spec = importlib.util.find_spec("tensorflowjs")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("tensorflowjs is not installed in this environment")
    root = Path(spec.submodule_search_locations[0])
    for name in UNUSED_IMPORTS:
        sys.modules.setdefault(name, types.ModuleType(name))
    for name, folder in (("tensorflowjs", root), ("tensorflowjs.converters", root / "converters")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
    return importlib.import_module("tensorflowjs.converters.tf_saved_model_conversion_v2")


def _tensorflowjs_version() -> str:
    return importlib.import_module("tensorflowjs.version").version
