"""TFLite (`.tflite`), converted from the TF SavedModel by TensorFlow's TFLiteConverter out of
process; runs with LiteRT (`ai-edge-litert`: the TFLite runtime built for NumPy 2) on XNNPACK.

NHWC input. fp32; fp16 (fp16 weights); int8 in four kinds (`--int8-kind`, see tflite_convert):
dynamic-range, full-integer (float I/O), full-integer-io (int8 I/O, for integer-only hardware),
float-keypoints (full-integer with the keypoint branch in float: the pose within a point).
Full-integer int8 keeps the pose with `--decode host`: each head map is its own int8 tensor with
its own scale, and the pixel-scale decode runs in float on the host (poseexport/decode/).
Metadata: in the model's metadata buffer (tflite_metadata.py) and in the metadata.json sidecar.
"""
from __future__ import annotations

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
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.metadata import Metadata

from .saved_model import TF_EXPORT
from .tf_convert import SIGNATURE, quiet_tf_env
from .tflite_convert import CALIBRATIONS, INT8_KINDS
from .tflite_metadata import is_tflite, read_metadata_json

# The int8 that keeps the pose (measured on yolo11n-pose, docs/tf-family.md); the pure integer
# kinds are for hardware that needs them, and are asked for by name.
DEFAULT_INT8_KIND = "float-keypoints"
DEFAULT_CALIBRATION = "percentile"
INT8_KIND_HELP = ("int8 TFLite kind: dynamic-range (int8 weights, float activations), full-integer "
                  "(int8 ops, float32 input/outputs), full-integer-io (int8 input and outputs, for "
                  "integer-only hardware) or float-keypoints (full-integer but the keypoint branch, "
                  "4 convolutions per level, in float: keeps the pose best)")


def int8_method(kind: str, images: int, calibration: str) -> str:
    """What the metadata says about how the int8 artifact was made."""
    import importlib.metadata as md

    from .tflite_convert import PERCENTILE_IMAGES
    from .tflite_ranges import PERCENTILE

    tf = md.version("tensorflow")
    if kind == "dynamic-range":
        return f"TFLiteConverter (TensorFlow {tf}) dynamic-range: int8 per-channel weights, float activations"
    io = "int8 input and outputs" if kind == "full-integer-io" else "float32 input and outputs"
    ranges = ("min/max" if calibration == "minmax" else
              f"min/max, then the {PERCENTILE:g}th-percentile tails on {min(images, PERCENTILE_IMAGES)} of them; "
              "the outputs at min/max")
    what = ("int8 per-channel weights and int8 activations except the keypoint branch (the ops feeding only "
            "the keypoint outputs), which stays float32;" if kind == "float-keypoints" else
            "int8 per-channel weights and int8 activations")
    return f"TFLiteConverter (TensorFlow {tf}) {kind}: {what} calibrated ({ranges}) on {images} images, {io}"


def _full_integer(options) -> bool:
    return options.precision == "int8" and (options.option("int8_kind") or DEFAULT_INT8_KIND) != "dynamic-range"


class TfliteBackend(Backend):
    name = "tflite"
    title = "TFLite"
    extra = "tf"  # exporting
    run_extra = "tflite"  # running: LiteRT alone
    source = "saved_model"
    suffix = ".tflite"
    capabilities = Capabilities(precisions=("fp32", "fp16", "int8"), dynamic=False, nms=False,
                                decode=("graph", "host"), layout="NHWC")
    export_requires = (*TF_EXPORT, "ai_edge_litert")
    run_requires = ("ai_edge_litert",)
    runtime_versions = {"ai-edge-litert": None}
    options = (
        FormatOption("int8_kind", str, None, INT8_KIND_HELP + f" (default {DEFAULT_INT8_KIND})",
                     choices=INT8_KINDS),
        FormatOption("int8_calibration", str, None, "activation ranges of full-integer int8: percentile "
                     "(99.999th inside, min/max at the outputs; the default) or minmax (TFLiteConverter's own)",
                     choices=CALIBRATIONS),
        FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX graph "
                                             "(default on)"),
    )

    def needs_calibration(self, options) -> bool:
        return _full_integer(options)  # dynamic-range quantises the stored weights only

    def default_decode(self, options) -> str:
        """Full-integer int8 decodes on the host: in the graph, one int8 tensor would hold pixel
        coordinates (hundreds) and 0-1 scores under one scale, and the scores are gone."""
        return "host" if _full_integer(options) else "graph"

    def check_options(self, options) -> None:
        kind = options.option("int8_kind")
        if kind is not None and options.precision != "int8":
            raise UnsupportedOptionError(f"--int8-kind {kind} applies to int8 exports only",
                                         f"this export is {options.precision}", "add --int8, or drop --int8-kind")
        if _full_integer(options) and options.decode == "graph":
            raise UnsupportedOptionError(
                f"Full-integer int8 TFLite ({kind or DEFAULT_INT8_KIND}) cannot keep the decode in the graph",
                "its one int8 output would hold pixel coordinates and 0-1 scores under one scale: measured on "
                "yolo11n-pose, every person is lost (pose mAP50-95 0.000, 39 of 39 persons missed)",
                "drop --decode graph (full-integer kinds decode on the host by default), or pass "
                "--int8-kind dynamic-range")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        ctx.metadata = replace(ctx.metadata, outputs=source.metadata.outputs)  # the layouts TF gave them
        precision = ctx.options.precision
        kind = (ctx.options.option("int8_kind") or DEFAULT_INT8_KIND) if precision == "int8" else None
        calibration = ctx.options.option("int8_calibration") or DEFAULT_CALIBRATION
        if kind == "dynamic-range":  # weights only: nothing was calibrated
            ctx.metadata = replace(ctx.metadata, precision=replace(
                ctx.metadata.precision, notes=int8_method(kind, 0, calibration)))
        elif kind is not None:
            ctx.record_calibration(int8_method(kind, len(ctx.calibration.images), calibration))
        if kind is not None:
            ctx.metadata = replace(ctx.metadata, options={**ctx.metadata.options, "int8_kind": kind,
                                                          "int8_calibration": calibration})
        request = converter_inputs(ctx, source, out_dir, {"precision": precision, "int8_kind": kind,
                                                          "calibration": calibration})
        result = run_converter("poseexport.backends.tflite_convert:convert", request, ctx.work_dir,
                               title="The TFLite converter", timeout_s=self.converter_timeout_s(),
                               env=quiet_tf_env())
        ctx.metadata = Metadata.from_json(result["metadata"])
        model = Path(result["model"])
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[model])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return TfliteRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        path = Path(path)
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            if not is_tflite(f.read(8)):
                return False
        try:
            return read_metadata_json(path) is not None
        except Exception:
            return False

    def read_native_metadata(self, path: Path) -> Metadata | None:
        try:
            text = read_metadata_json(path)
        except (ValueError, IndexError, OSError) as err:
            raise BadArtifactError(f"The file {path} is not a readable TFLite model",
                                   f"it is truncated, corrupt or not TFLite ({err})",
                                   "copy it again, or re-export it with poseexport convert") from err
        return None if text is None else Metadata.from_json(text)


class TfliteRunner(Runner):
    """A LiteRT interpreter (XNNPACK) on the serving signature; `threads` sets its thread count."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        from poseexport.device import parse_device

        if parse_device(device).kind != "cpu":
            raise UnsupportedOptionError(f"TFLite artifacts run on the CPU here, not on {device}",
                                         "LiteRT's GPU and NPU delegates are for phones and boards",
                                         "pass --device cpu")
        litert = require("ai_edge_litert.interpreter", "tflite")
        main = Path(artifact.main_file)
        self.interpreter = open_model_file("TFLite", [main], lambda: self._interpreter(litert, main, threads))
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE not in signatures:
            raise BadArtifactError(f"{main} has no '{SIGNATURE}' signature",
                                   f"it has {', '.join(signatures) or 'none'}", "re-export it with poseexport convert")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.input_name = next(iter(self.runner.get_input_details()))
        self.output_names = [o.name for o in self.metadata.outputs]
        details = self.runner.get_output_details()
        missing = [n for n in self.output_names if n not in details]
        if missing:
            raise BadArtifactError(f"{main} lacks the output(s) {', '.join(missing)} its metadata lists",
                                   "the metadata belongs to another export", "re-export the artifact")
        check_output_shapes(self.metadata, [list(details[n]["shape"]) for n in self.output_names], self.where)

    def _interpreter(self, litert, main: Path, threads: int | None):
        return litert.Interpreter(model_path=str(main), num_threads=threads)

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        out = self.runner(**{self.input_name: inputs})
        return [out[n] for n in self.output_names]

    def close(self) -> None:
        self.runner = None
        self.interpreter = None
