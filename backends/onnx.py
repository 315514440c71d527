"""ONNX: derived once from the torch.export program; fp32, fp16 (fp32 I/O), int8 (static QDQ).

Runs with ONNX Runtime. Metadata lives in the model's metadata_props under the key
"poseexport" (JSON) and in the metadata.json sidecar.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from poseexport.contract import (
    Artifact,
    Backend,
    Capabilities,
    FormatOption,
    Runner,
    require,
)
from poseexport.contract.artifact_checks import check_output_shapes, open_model_file
from poseexport.device import parse_device
from poseexport.errors import (
    BadArtifactError,
    ExportFailedError,
    MissingDependencyError,
    UnsupportedOptionError,
)
from poseexport.metadata import METADATA_KEY, Metadata

DEFAULT_OPSET = 18
# torch 2.13's dynamo exporter writes its own ops (torchlib) at opset 18 and converts upward
# with the onnxscript version converter (falling back to onnx's C converter up to
# onnx.defs.onnx_opset_version()); asked for less than 18 it writes 18 anyway or, for 16-17,
# a graph ONNX Runtime rejects ("This is an invalid model"), measured with posenet-test.
MIN_OPSET = 18


class OnnxBackend(Backend):
    name = "onnx"
    title = "ONNX"
    extra = "onnx"
    source = "graph"
    suffix = ".onnx"
    # cuda: through onnxruntime-gpu's CUDAExecutionProvider (OnnxRunner refuses it when absent)
    capabilities = Capabilities(precisions=("fp32", "fp16", "int8"), dynamic=True, nms=True, decode=("graph", "host"),
                                devices=("cpu", "cuda"))
    export_requires = ("onnx", "onnxscript", "onnxruntime")  # onnxruntime: int8 calibration
    run_requires = ("onnxruntime", "onnx")  # onnx reads the metadata of a bare .onnx file
    runtime_versions = {"onnxruntime": None}  # onnxruntime-gpu counts: it provides the same module
    options = (
        FormatOption("opset", int, None, f"ONNX opset, {MIN_OPSET} up to the newest the installed onnx knows "
                                         f"(default {DEFAULT_OPSET}); the metadata records the opset the file has"),
        FormatOption("simplify", bool, True, "onnxslim graph simplification (default on; "
                                             "--no-simplify / simplify=False keeps the exporter's graph)"),
    )

    def check_options(self, options) -> None:
        if options.option("simplify"):
            check_simplifier()
        opset = options.option("opset")
        if opset is None:
            return
        low, high = opset_range()
        if not low <= opset <= high:
            raise UnsupportedOptionError(f"ONNX opset {opset} cannot be exported",
                                         f"the exporter of torch {_torch_version()} with the installed "
                                         f"onnx writes opsets {low} to {high}",
                                         f"pass --opset between {low} and {high}, or drop --opset "
                                         f"(default {DEFAULT_OPSET})")

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
        ctx.metadata = with_real_opset(ctx.metadata, model, ctx.options.option("opset"))
        set_metadata(model, ctx.metadata)
        onnx.save(model, str(path))
        return Artifact(path=out_dir, main_file=path, metadata=ctx.metadata, files=[path])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return OnnxRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        if not path.is_file():
            return False
        if path.suffix.lower() == self.suffix:  # says it is ONNX: a file that does not parse is named
            return read_metadata(path) is not None
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
        check_output_shapes(self.metadata, [o.shape for o in self.session.get_outputs()], self.where)

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: inputs})

    def close(self) -> None:
        self.session = None


def opset_range() -> tuple[int, int]:
    """The ONNX opsets this torch exporter and the installed onnx package can write."""
    onnx = require("onnx", "onnx")
    return MIN_OPSET, int(onnx.defs.onnx_opset_version())


def model_opset(model) -> int:
    """The default-domain opset a ModelProto really imports."""
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def with_real_opset(metadata: Metadata, model, asked: int | None) -> Metadata:
    """Record the opset the file has (not the one asked for); a converter that wrote another
    opset than asked is an export failure, never a silent change."""
    from dataclasses import replace

    real = model_opset(model)
    if asked is not None and real != asked:
        raise ExportFailedError(f"The ONNX exporter wrote opset {real}, not the opset {asked} asked for",
                                "its version converter could not convert the graph",
                                f"drop --opset (default {DEFAULT_OPSET}) or try another opset")
    return replace(metadata, options={**metadata.options, "opset": real})


def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


def export_graph_to_onnx(traced, path: Path, options) -> Path:
    """torch.export program -> ONNX file (single file, no external data), simplified if asked."""
    import logging

    import torch

    require("onnxscript", "onnx")
    # the exporter logs one warning per torchvision op it cannot register; we use none of them
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    opset = options.option("opset") or DEFAULT_OPSET
    try:
        program = torch.onnx.export(traced.program, (traced.example,), dynamo=True, opset_version=opset,
                                    input_names=[traced.input_spec.name],
                                    output_names=[o.name for o in traced.artifact_outputs],
                                    external_data=False, optimize=True, verbose=False)
        program.save(str(path), external_data=False)
    except Exception as err:
        raise ExportFailedError("Converting the traced graph to ONNX failed", str(err).splitlines()[0],
                                f"try another --opset (now {opset})") from err
    if options.option("simplify"):
        _simplify(path)
    return path


def _simplify(path: Path) -> None:
    check_simplifier()
    import onnx
    import onnxslim

    model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


def check_simplifier() -> None:
    """Simplification asked for (the default) but impossible is an error, never a silent skip."""
    try:
        import onnxslim  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError("Simplifying the ONNX graph needs onnxslim, which is not installed",
                                     "graph simplification is on by default (--no-simplify turns it off)",
                                     "pip install 'poseexport[onnx]', or pass --no-simplify") from err


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
        raise BadArtifactError(f"The file {path} is not a readable ONNX model",
                               f"it is truncated, corrupt or not ONNX (the parser says: {err})",
                               "copy it again, or re-export it with poseexport convert") from err
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return Metadata.from_json(prop.value)
    return None
