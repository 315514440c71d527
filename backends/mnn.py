"""MNN (`.mnn`), converted from the fp32 ONNX by MNN's compiled converter out of process; runs with
the `MNN` Python package (`MNN.nn` modules on the CPU backend).

fp32; fp16 (fp16 weights, computed in fp32 where the CPU has no fp16 arithmetic); int8 in two
kinds (`--int8-kind`): full-integer (int8 weights and activations from MNN's own quantiser,
calibrated on real images; the default), float-keypoints (full-integer with the keypoint branch
left in float) and weight-only (int8 weights, float compute: a smaller file, not a faster one). Metadata: in the model's business-code field (mnn_metadata.py) and in
the metadata.json sidecar. The conversion never goes through `MNN.tools` (mnn_convert.py).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import replace
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
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.device import parse_device
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.metadata import Metadata

from .mnn_metadata import read_biz_code

INT8_KINDS = ("full-integer", "float-keypoints", "weight-only")
CALIBRATED_KINDS = ("full-integer", "float-keypoints")
DEFAULT_INT8_KIND = "full-integer"
# MNN's third method, ADMM, is left out: on yolo11n-pose MNN 3.6.1's quantiser fails a reshape with it and
# then aborts (heap corruption), after writing a model whose activations were never calibrated
FEATURE_METHODS = ("KL", "EMA")
# EMA, not MNN's default KL: with KL ranges yolo11n-pose loses 36-39 of 39 persons (measured, 9 images)
DEFAULT_FEATURE_METHOD = "EMA"
# "high": fp32 compute on every CPU ("low" lets ARM compute in fp16: not the validated model)
PRECISION_MODE = "high"


class MnnBackend(Backend):
    name = "mnn"
    title = "MNN"
    extra = "mnn"
    source = "onnx"  # MNN's converter reads the fp32 ONNX the pipeline derives from the traced graph
    suffix = ".mnn"
    capabilities = Capabilities(precisions=("fp32", "fp16", "int8"), decode=("graph", "host"))
    export_requires = ("_tools", "MNN")  # _tools: MNN's compiled converter and quantiser
    run_requires = ("MNN",)
    runtime_versions = {"MNN": None}
    options = (
        FormatOption("int8_kind", str, None, "int8 MNN kind: full-integer (int8 weights and activations, "
                     f"calibrated; default {DEFAULT_INT8_KIND}), float-keypoints (full-integer, keypoint branch "
                     "in float) or weight-only (int8 weights, float compute)",
                     choices=INT8_KINDS),
        FormatOption("mnn_feature_method", str, None, "MNN quantiser's activation-range method: KL or EMA "
                     f"(default {DEFAULT_FEATURE_METHOD})", choices=FEATURE_METHODS),
        FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX graph "
                                             "(default on)"),
    )

    def needs_calibration(self, options) -> bool:
        return options.precision == "int8" and _int8_kind(options) in CALIBRATED_KINDS

    def default_decode(self, options) -> str:
        """Full-integer int8 ends at the head maps, each its own tensor, and decodes on the host."""
        return "host" if self.needs_calibration(options) else "graph"

    def check_options(self, options) -> None:
        if self.needs_calibration(options) and options.decode == "graph":
            raise UnsupportedOptionError(
                "Full-integer int8 MNN cannot keep the decode in the graph",
                "MNN's quantiser would put pixel coordinates and 0-1 scores into int8 tensors: measured on "
                "yolo11n-pose, every person is lost (39 of 39 missed)",
                "drop --decode graph (full-integer decodes on the host by default), or pass "
                "--int8-kind weight-only")
        for name in ("int8_kind", "mnn_feature_method"):
            if options.option(name) is not None and options.precision != "int8":
                raise UnsupportedOptionError(f"{name} applies to int8 MNN exports only",
                                             f"this export is {options.precision}", "add --int8, or drop it")
        if options.option("mnn_feature_method") and _int8_kind(options) == "weight-only":
            raise UnsupportedOptionError("--mnn-feature-method applies to the calibrated kinds",
                                         "weight-only int8 calibrates nothing", "drop --mnn-feature-method")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        precision = ctx.options.precision
        kind = _int8_kind(ctx.options) if precision == "int8" else None
        method = ctx.options.option("mnn_feature_method") or DEFAULT_FEATURE_METHOD
        notes = f"MNN CPU backend, precision mode '{PRECISION_MODE}'"
        if kind in CALIBRATED_KINDS:
            ctx.record_calibration(_int8_method(len(ctx.calibration.images), method, kind))
        elif kind == "weight-only":
            notes += "; int8 weights (weightQuantBits 8, per-channel symmetric), float compute"
        ctx.metadata = replace(ctx.metadata, precision=replace(ctx.metadata.precision, notes=notes))
        if kind is not None:
            ctx.metadata = replace(ctx.metadata, options={**ctx.metadata.options, "int8_kind": kind})
        request = converter_inputs(ctx, source, out_dir, {"precision": precision, "int8_kind": kind,
                                                          "feature_method": method})
        result = run_converter("poseexport.backends.mnn_convert:convert", request, ctx.work_dir,
                               title="The MNN converter", timeout_s=self.converter_timeout_s())
        model = Path(result["model"])
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[model])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return MnnRunner(artifact, device, threads)

    def read_native_metadata(self, path: Path) -> Metadata | None:
        path = Path(path)
        if path.is_dir():
            found = sorted(path.glob("*.mnn"))
            if len(found) != 1:
                return None
            path = found[0]
        try:
            text = read_biz_code(path)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            raise BadArtifactError(f"The file {path} is not a readable MNN model",
                                   f"it is truncated, corrupt or not MNN ({err})",
                                   "copy it again, or re-export it with poseexport convert") from err
        if not text or not text.startswith("{"):
            return None
        return Metadata.from_json(text)


def _int8_kind(options) -> str:
    return options.option("int8_kind") or DEFAULT_INT8_KIND


def _int8_method(images: int, method: str, kind: str) -> str:
    import importlib.metadata as md

    floats = "; the keypoint branch in float" if kind == "float-keypoints" else ""
    return (f"MNN {md.version('MNN')} quantiser: int8 per-channel weights (MAX_ABS) and int8 activations "
            f"({method} ranges) calibrated on {images} letterboxed images{floats}")


@contextlib.contextmanager
def _stdout_silenced():
    """MNN's import prints the CPU's features to stdout from C++: keep it out of our output."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class MnnRunner(Runner):
    """An `MNN.nn` module on the CPU backend; `threads` sets numThread."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        if parse_device(device).kind != "cpu":
            raise UnsupportedOptionError(f"MNN artifacts run on the CPU here, not on {device}",
                                         "poseexport runs MNN's CPU backend; its GPU backends (OpenCL, "
                                         "Vulkan, CUDA) are not wired in", "pass --device cpu")
        with _stdout_silenced():
            require("MNN", "mnn")
            import MNN.expr as expr
            import MNN.nn as nn
        self.expr = expr
        main = Path(artifact.main_file)
        config = {"backend": "CPU", "precision": PRECISION_MODE}
        if threads:
            config["numThread"] = int(threads)
        self.threads = threads
        names = [o.name for o in self.metadata.outputs]
        self.input_shape = list(self.metadata.inputs[0].shape)

        def load():
            manager = nn.create_runtime_manager((config,))
            module = nn.load_module_from_file(str(main), [self.metadata.inputs[0].name], names,
                                              runtime_manager=manager)
            if module is None:
                raise RuntimeError("MNN could not open the file")
            return module

        with _stdout_silenced():  # "MNN use high precision" on every load
            self.module = open_model_file("MNN", [main], load)
        self._shape_checked = False

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        expr = self.expr
        x = expr.const(np.ascontiguousarray(inputs, dtype=np.float32), list(inputs.shape), expr.NCHW)
        outs = self.module.onForward([x])
        arrays = [np.array(expr.convert(y, expr.NCHW).read()) for y in outs]
        if not self._shape_checked:
            check_output_shapes(self.metadata, [list(a.shape) for a in arrays], self.where)
            self._shape_checked = True
        return arrays

    def close(self) -> None:
        self.module = None
