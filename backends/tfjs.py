"""TF.js graph model (`model.json` + weight shards in the artifact folder), converted from the
TF SavedModel by tensorflowjs in its own Python environment and run in Node.js.

Precisions are tensorflowjs's weight quantisations; the graph always computes in float32:
- fp32: float32 weights.
- fp16: float16 weights (`--quantize_float16`), half the download.
- int8: uint8 weights (`--quantize_uint8`: affine per tensor) on the convolution kernels but
  the last two before each output, about a third of the download. Weights only: activations
  stay float32, no calibration images are used, and it runs no faster than fp32 (see
  docs/tfjs.md for why it is still named int8).
Metadata: model.json's `userDefinedMetadata.poseexport` (where TF.js keeps a model's own data)
and the metadata.json sidecar. Runner: tfjs_runner (one Node process per opened artifact).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from poseexport.contract import (
    DEFAULT_TOLERANCES,
    Artifact,
    Availability,
    Backend,
    Capabilities,
    Runner,
)
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.errors import BadArtifactError
from poseexport.metadata import METADATA_KEY, Metadata

from . import tfjs_env

MODEL_FILE = "model.json"
CONVERTER = "poseexport.backends.tfjs_convert:convert"
PRECISION_NOTES = {
    "fp16": "float16 weights (tensorflowjs --quantize_float16), computed in float32",
    "int8": "weights only: uint8 convolution kernels (all but the last two convolutions before each output), "
            "affine per tensor (tensorflowjs --quantize_uint8), "
            "dequantised to float32 when the model loads; activations and arithmetic float32; no calibration",
}


class TfjsBackend(Backend):
    name = "tfjs"
    title = "TF.js"
    extra = None  # its toolchain lives outside poseexport's environment: tfjs_setup makes it
    source = "saved_model"
    suffix = ""  # a folder: model.json and its weight shards
    capabilities = Capabilities(precisions=("fp32", "fp16", "int8"), layout="NHWC", decode=("graph", "host"))
    convert_timeout_s = 900.0
    # the common limits: uint8 weights (one scale per kernel, float activations) measured 3.3 px
    # matched keypoints on yolo11n-pose at 640 against int8's 4 px (docs/tfjs.md)
    tolerances = DEFAULT_TOLERANCES

    def availability(self) -> Availability:
        return tfjs_env.runner_availability()

    def export_availability(self) -> Availability:
        """The converter's Python, and the SavedModel format it converts from."""
        from poseexport.contract.registry import get_backend
        from poseexport.errors import UnsupportedOptionError

        converter = tfjs_env.converter_availability()
        try:
            upstream = get_backend(self.source).export_availability()
        except UnsupportedOptionError:
            upstream = Availability(False, f"exporting converts from the {self.source} format, which this "
                                           "poseexport does not have: upgrade poseexport")
        else:
            if not upstream:
                upstream = Availability(False, f"exporting converts from a TF SavedModel ({self.source}), and "
                                               f"{upstream.reason}")
        reasons = [a.reason for a in (converter, upstream) if not a]
        return Availability(not reasons, "; ".join(reasons))

    def needs_calibration(self, options) -> bool:
        return False  # int8 quantises stored weights only: there is nothing to calibrate

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        precision = ctx.options.precision
        notes = PRECISION_NOTES.get(precision, "")
        # the outputs as the SavedModel gives them (head maps of --decode host in NHWC)
        ctx.metadata = replace(ctx.metadata, outputs=source.metadata.outputs,
                               precision=replace(ctx.metadata.precision, notes=notes, calibration=None))
        request = converter_inputs(ctx, source, out_dir, {"precision": precision})
        result = run_converter(CONVERTER, request, ctx.work_dir, title="The TF.js converter (tensorflowjs)",
                               timeout_s=self.converter_timeout_s(), python=tfjs_env.converter_python(),
                               env={"TF_CPP_MIN_LOG_LEVEL": "2"})
        toolchain = {**ctx.metadata.toolchain, **result["versions"]}
        if tfjs_env.runner_availability():
            toolchain.update(tfjs_env.node_toolchain().versions)
        ctx.metadata = replace(ctx.metadata, toolchain=toolchain)
        model = Path(result["model"])
        _embed_metadata(model, ctx.metadata)  # the versions are known only now
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[Path(f) for f in result["files"]])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        from .tfjs_runner import TfjsRunner

        return TfjsRunner(artifact, device, threads)

    def main_file_in(self, folder: Path) -> Path:
        if (Path(folder) / MODEL_FILE).is_file():
            return Path(folder) / MODEL_FILE
        return super().main_file_in(folder)

    def read_native_metadata(self, path: Path) -> Metadata | None:
        model = _model_json(path)
        return read_metadata(model) if model is not None else None

    def toolchain_versions(self) -> dict[str, str]:
        return {}  # read from the converter's own environment at export (see export)


def read_model_json(model: Path) -> dict:
    try:
        data = json.loads(Path(model).read_text())
    except (OSError, ValueError) as err:
        raise BadArtifactError(f"{model} is not a readable TF.js model.json", str(err),
                               "copy it again, or re-export it with poseexport convert") from err
    if not isinstance(data, dict) or data.get("format") != "graph-model":
        raise BadArtifactError(f"{model} is not a TF.js graph model", "its 'format' is not 'graph-model'",
                               "pass the model.json poseexport convert --format tfjs wrote")
    return data


def read_metadata(model: Path) -> Metadata | None:
    """The poseexport metadata from model.json's userDefinedMetadata (None: not ours)."""
    found = (read_model_json(model).get("userDefinedMetadata") or {}).get(METADATA_KEY)
    return None if found is None else Metadata.from_json(json.dumps(found))


def _embed_metadata(model: Path, metadata: Metadata) -> None:
    data = read_model_json(model)
    data.setdefault("userDefinedMetadata", {})[METADATA_KEY] = json.loads(metadata.to_json())
    model.write_text(json.dumps(data))


def _model_json(path: Path) -> Path | None:
    """The model.json: the file itself (any name), or model.json inside a folder."""
    path = Path(path)
    candidate = path / MODEL_FILE if path.is_dir() else path
    if not candidate.is_file():
        return None
    with open(candidate, "rb") as f:
        head = f.read(256).lstrip()
    return candidate if head.startswith(b"{") and b'"format"' in head and b"graph-model" in head else None
