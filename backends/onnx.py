"""ONNX: derived once from the torch.export program; fp32, fp16 (fp32 I/O), int8 (static QDQ).

Runs with ONNX Runtime. Metadata lives in the model's metadata_props under the key
"poseexport" (JSON) and in the metadata.json sidecar.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poseexport.errors import BadArtifactError, ExportFailedError
from poseexport.metadata import METADATA_KEY, Metadata

from .base import Artifact, Backend, Capabilities, Runner, require

DEFAULT_OPSET = 18


class OnnxBackend(Backend):
    name = "onnx"
    title = "ONNX"
    extra = "onnx"
    source = "graph"
    suffix = ".onnx"
    capabilities = Capabilities(precisions=("fp32", "fp16", "int8"), dynamic=True, nms=True)
    requires = ("onnx", "onnxscript", "onnxruntime")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        onnx = require("onnx", "onnx")
        path = out_dir / f"{ctx.traced.facts.arch}.onnx"
        fp32 = export_graph_to_onnx(source, path, ctx.options)
        model = onnx.load(str(fp32))
        precision = ctx.options.precision
        if precision == "fp16":
            from .onnx_fp16 import convert_fp16

            model = convert_fp16(model)
        elif precision == "int8":
            from .onnx_int8 import quantize_int8

            model, method = quantize_int8(model, ctx, out_dir)
            ctx.record_calibration(method)
        set_metadata(model, ctx.metadata)
        onnx.save(model, str(path))
        return Artifact(path=out_dir, main_file=path, metadata=ctx.metadata, files=[path])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return OnnxRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        if not path.is_file():
            return False
        try:
            return read_metadata(path) is not None
        except Exception:
            return False

    def read_native_metadata(self, path: Path) -> Metadata | None:
        return read_metadata(path)


class OnnxRunner(Runner):
    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        ort = require("onnxruntime", "onnx")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") \
            else ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(artifact.main_file), opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def infer(self, images: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(images, dtype=np.float32)})
        return np.asarray(out[0], dtype=np.float32)

    def close(self) -> None:
        self.session = None


def export_graph_to_onnx(traced, path: Path, options) -> Path:
    """torch.export program -> ONNX file (single file, no external data), simplified if asked."""
    import logging

    import torch

    require("onnxscript", "onnx")
    # the exporter logs one warning per torchvision op it cannot register; we use none of them
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    opset = options.opset or DEFAULT_OPSET
    try:
        program = torch.onnx.export(traced.program, (traced.example,), dynamo=True, opset_version=opset,
                                    input_names=["images"], output_names=["output0"],
                                    external_data=False, optimize=True, verbose=False)
        program.save(str(path), external_data=False)
    except Exception as err:
        raise ExportFailedError("Converting the traced graph to ONNX failed", str(err).splitlines()[0],
                                f"try another --opset (now {opset})") from err
    if options.simplify:
        _simplify(path)
    return path


def _simplify(path: Path) -> None:
    try:
        import onnxslim
    except ImportError:
        return  # simplification is an optimisation; the extra 'onnx' normally provides it
    import onnx

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


def set_metadata(model, metadata: Metadata) -> None:
    entries = {p.key: p for p in model.metadata_props}
    entry = entries.get(METADATA_KEY)
    if entry is None:
        entry = model.metadata_props.add()
        entry.key = METADATA_KEY
    entry.value = metadata.to_json()
    for key, value in (("names", json.dumps(metadata.model.names)),
                       ("kpt_shape", json.dumps(list(metadata.model.kpt_shape))),
                       ("stride", str(metadata.model.stride)), ("task", "pose")):
        if key not in entries:
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value


def read_metadata(path: Path) -> Metadata | None:
    onnx = require("onnx", "onnx")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:
        raise BadArtifactError(f"{path} is not a readable ONNX model", str(err), "re-export it") from err
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return Metadata.from_json(prop.value)
    return None
