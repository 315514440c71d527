"""TensorFlow converters. These run in the converter process (contract/converter_process.py),
never in the torch process: TensorFlow and onnx2tf are imported here only.

- `to_saved_model`: our fp32 ONNX -> onnx2tf -> a SavedModel whose serving signature takes the
  NHWC image tensor under the ONNX input's name and returns every output under the name the
  metadata gives it, with the metadata inside the model (a string variable) and in
  assets.extra/ (readable without TensorFlow).
- `to_graphdef`: that SavedModel -> one frozen GraphDef (.pb): variables folded into
  constants, the input placeholder and one Identity per output named as the metadata names
  them, and the metadata as a string Const node.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from poseexport.contract.converter_process import read_metadata
from poseexport.metadata import Metadata

# onnx2tf fetches this file from GitHub for any 3-channel 4-D input (to calibrate its own int8,
# which we never ask it for) unless a file of this name sits in its working directory
ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"
SIGNATURE = "serving_default"
METADATA_VARIABLE = "poseexport_metadata"  # the SavedModel object attribute holding the JSON
METADATA_ASSET = "assets.extra/poseexport.json"  # TF's folder for files the graph does not load
METADATA_NODE = "poseexport_metadata"  # the GraphDef Const node holding the JSON


def to_saved_model(request: dict) -> dict:
    import numpy as np

    metadata = read_metadata(request)
    np.save(ONNX2TF_SAMPLE, np.zeros((20, 128, 128, 3), np.float32))  # cwd: the converter's own run folder
    raw_dir = Path("onnx2tf_saved_model").resolve()
    start = time.perf_counter()
    import onnx2tf

    onnx2tf.convert(input_onnx_file_path=request["source"], output_folder_path=str(raw_dir),
                    not_use_onnxsim=True,  # the pipeline simplified the ONNX already
                    output_signaturedefs=True, non_verbose=True,
                    disable_group_convolution=True, enable_batchmatmul_unfold=True)
    onnx2tf_s = time.perf_counter() - start
    metadata = _wrap_and_save(raw_dir, Path(request["out_dir"]), metadata)
    return {"metadata": metadata.to_json(), "onnx2tf_s": round(onnx2tf_s, 1)}


def _wrap_and_save(raw_dir: Path, out_dir: Path, metadata: Metadata) -> Metadata:
    """Re-save onnx2tf's SavedModel with our signature names and the metadata inside it."""
    import tensorflow as tf

    inner = tf.saved_model.load(str(raw_dir))
    serve = inner.signatures[SIGNATURE]
    keys = _output_keys(serve, metadata)
    spec = metadata.inputs[0]
    tf_shapes = [tuple(serve.structured_outputs[k].shape.as_list()) for k in keys]
    metadata = with_tf_output_layouts(metadata, tf_shapes)
    in_key = next(iter(serve.structured_input_signature[1]))
    names = [o.name for o in metadata.outputs]

    class PoseModel(tf.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner
            setattr(self, METADATA_VARIABLE, tf.Variable(metadata.to_json(), trainable=False, dtype=tf.string))

        @tf.function(input_signature=[tf.TensorSpec(spec.shape, tf.float32, name=spec.name)])
        def serve(self, images):
            out = serve(**{in_key: images})
            return {name: tf.identity(out[key], name=name) for name, key in zip(names, keys)}

    module = PoseModel()
    tf.saved_model.save(module, str(out_dir), signatures={SIGNATURE: module.serve})
    asset = out_dir / METADATA_ASSET
    asset.parent.mkdir(parents=True, exist_ok=True)
    asset.write_text(metadata.to_json())
    return metadata


def _output_keys(serve, metadata: Metadata) -> list[str]:
    """onnx2tf's signature keys in the order of the metadata's outputs: the ONNX names, or
    output_0 ... output_N in ONNX output order."""
    keys = set(serve.structured_outputs)
    names = [o.name for o in metadata.outputs]
    if keys == set(names):
        return names
    numbered = {int(m.group(1)): k for k in keys if (m := re.fullmatch(r"output_(\d+)", k))}
    if len(numbered) == len(keys) == len(names) and set(numbered) == set(range(len(names))):
        return [numbered[i] for i in range(len(names))]
    raise RuntimeError(f"onnx2tf's SavedModel has the outputs {sorted(keys)}; expected {names} "
                       f"or output_0..output_{len(names) - 1}")


def with_tf_output_layouts(metadata: Metadata, shapes: list[tuple]) -> Metadata:
    """onnx2tf turns 4-D head maps into NHWC: record that layout and shape; other outputs must
    keep the shape the metadata gives them."""
    from dataclasses import replace

    outputs = []
    for spec, shape in zip(metadata.outputs, shapes):
        want = tuple(spec.shape)
        if len(want) == 4 and spec.kind == "head" and shape == (want[0], want[2], want[3], want[1]):
            spec = replace(spec, layout="NHWC", shape=shape)
        elif _fixed(shape) != _fixed(want):
            raise RuntimeError(f"output {spec.name}: TensorFlow gives shape {shape}, the model {want}")
        outputs.append(spec)
    return replace(metadata, outputs=tuple(outputs))


def _fixed(shape) -> tuple:
    return tuple(d if isinstance(d, int) else None for d in shape)


def to_graphdef(request: dict) -> dict:
    """SavedModel (request["source_dir"]) -> frozen GraphDef <stem>.pb with named tensors."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    metadata = read_metadata(request)
    loaded = tf.saved_model.load(request["source_dir"])
    frozen = convert_variables_to_constants_v2(loaded.signatures[SIGNATURE])
    graph_def = frozen.graph.as_graph_def()
    names = [o.name for o in metadata.outputs]
    signature = loaded.signatures[SIGNATURE].structured_outputs
    if not isinstance(signature, dict) or set(signature) != set(names):
        raise RuntimeError(f"the SavedModel's signature returns {sorted(signature)}, not the outputs {names}")
    # the frozen function keeps the outputs, not their dict: they come in tf.nest's flattening order
    keys = tf.nest.flatten({k: k for k in signature})
    tensor_of = {k: t.name for k, t in zip(keys, frozen.outputs)}
    in_tensor = frozen.inputs[0].name
    graph_def = _name_tensors(tf, graph_def, in_tensor, metadata.inputs[0].name,
                              {n: tensor_of[n] for n in names})
    const = graph_def.node.add()
    const.name, const.op = METADATA_NODE, "Const"
    const.attr["dtype"].type = tf.string.as_datatype_enum
    const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(metadata.to_json()))
    path = Path(request["out_dir"]) / f"{request['stem']}.pb"
    path.write_bytes(graph_def.SerializeToString())
    return {"model": str(path)}


def _name_tensors(tf, graph_def, in_tensor: str, in_name: str, outputs: dict[str, str]):
    """Rename the input placeholder to `in_name` and add an Identity `name` for each output, so
    that a user feeds "images:0" and fetches "output0:0" (the metadata's names)."""
    old_in = in_tensor.split(":")[0]
    taken = {n.name for n in graph_def.node} - {old_in}
    if in_name in taken or any(n in taken for n in outputs):
        raise RuntimeError(f"the frozen graph already has a node named {in_name} or one of {list(outputs)}")
    for node in graph_def.node:
        if node.name == old_in:
            node.name = in_name
        for i, inp in enumerate(node.input):
            if inp.split(":")[0] == old_in:
                node.input[i] = inp.replace(old_in, in_name, 1)
    for name, tensor in outputs.items():
        src = tensor.replace(old_in, in_name, 1) if tensor.split(":")[0] == old_in else tensor
        node = graph_def.node.add()
        node.name, node.op = name, "Identity"
        node.input.append(src[:-2] if src.endswith(":0") else src)
        node.attr["T"].type = tf.float32.as_datatype_enum
    return graph_def


def quiet_tf_env() -> dict[str, str]:
    """Environment for a TensorFlow converter process: no INFO flood on stderr, no CUDA probe."""
    return {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
