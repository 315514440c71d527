"""ONNX: derived once from the torch.export program; fp32, fp16 (fp32 I/O), int8 (static QDQ).

Runs with ONNX Runtime. Metadata lives in the model's metadata_props under the key
"poseexport" (JSON) and in the metadata.json sidecar.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poseexport.device import parse_device
from poseexport.errors import BadArtifactError, ExportFailedError, UnsupportedOptionError
from poseexport.metadata import METADATA_KEY, Metadata

from .artifact_checks import check_output_shape, open_model_file
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
    """An ONNX Runtime session on the asked device; a device this ONNX Runtime cannot use
    is refused (ONNX Runtime itself would fall back to the CPU without a word)."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        ort = require("onnxruntime", "onnx")
        dev = parse_device(device)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        if dev.kind == "cuda":
            available = ort.get_available_providers()
            if "CUDAExecutionProvider" not in available:
                raise UnsupportedOptionError(
                    f"ONNX Runtime cannot run this artifact on {dev}",
                    f"the installed onnxruntime {ort.__version__} has only these execution providers: "
                    f"{', '.join(available)} (no CUDAExecutionProvider)",
                    "pass --device cpu, or install onnxruntime-gpu on a machine with CUDA")
            providers = [("CUDAExecutionProvider", {"device_id": dev.index})]
        else:
            providers = ["CPUExecutionProvider"]
        main = Path(artifact.main_file)
        self.session = open_model_file("ONNX", [main],
                                       lambda: ort.InferenceSession(str(main), opts, providers=providers))
        if dev.kind == "cuda" and "CUDAExecutionProvider" not in self.session.get_providers():
            raise UnsupportedOptionError(f"ONNX Runtime could not start on {dev}",
                                         "its CUDA provider failed to initialise (see its log above)",
                                         "check the CUDA and cuDNN installation, or pass --device cpu")
        self.input_name = self.session.get_inputs()[0].name
        check_output_shape(self.metadata, self.session.get_outputs()[0].shape, self.where)

    def infer(self, images: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(images, dtype=np.float32)})
        return self.checked_output(np.asarray(out[0], dtype=np.float32))

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
