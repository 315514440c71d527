"""TensorFlow SavedModel (a folder), converted from our fp32 ONNX by onnx2tf out of process.

The input is NHWC float32 (pixels / 255) under the ONNX input's name; the serving signature
returns every output under the metadata's name (head maps of --decode host in NHWC). Metadata:
inside the model (`tf.saved_model.load(dir).poseexport_metadata`, a string variable), in
assets.extra/poseexport.json (TF's place for files the graph does not load; read here without
TensorFlow) and in the metadata.json sidecar. Runs with TensorFlow on the CPU.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from poseexport.contract import Artifact, Backend, Capabilities, FormatOption, Runner
from poseexport.contract.artifact_checks import check_output_shapes, open_model_file
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.errors import BadArtifactError
from poseexport.metadata import Metadata

from .tf_convert import METADATA_ASSET, SIGNATURE, quiet_tf_env
from .tf_runtime import check_cpu, import_tensorflow

TF_EXPORT = ("tensorflow", "tf_keras", "onnx2tf", "onnx_graphsurgeon", "sng4onnx", "psutil", "onnx")
SAVED_MODEL_FILE = "saved_model.pb"


class SavedModelBackend(Backend):
    name = "saved_model"
    title = "TF SavedModel"
    extra = "tf"
    source = "onnx"  # the fp32 ONNX the pipeline derives (and simplifies) once
    suffix = ""  # a folder: saved_model.pb, variables/, assets.extra/
    capabilities = Capabilities(precisions=("fp32",), dynamic=False, nms=False, decode=("graph", "host"),
                                layout="NHWC")
    export_requires = TF_EXPORT
    run_requires = ("tensorflow",)
    runtime_versions = {"tensorflow": None}
    convert_timeout_s = 1800.0  # onnx2tf takes ~70 s for yolo11n on two cores, minutes for x
    options = (FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX "
                                                    "graph before conversion (default on)"),)

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        request = converter_inputs(ctx, source, out_dir)
        result = run_converter("poseexport.backends.tf_convert:to_saved_model", request, ctx.work_dir,
                               title="The onnx2tf converter", timeout_s=self.converter_timeout_s(),
                               env=quiet_tf_env())
        ctx.metadata = Metadata.from_json(result["metadata"])  # outputs with the layouts TF gives
        main = out_dir / SAVED_MODEL_FILE
        files = sorted(p for p in out_dir.rglob("*") if p.is_file())
        return Artifact(path=out_dir, main_file=main, metadata=ctx.metadata, files=files)

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return SavedModelRunner(artifact, device, threads)

    def main_file_in(self, folder: Path) -> Path:
        main = Path(folder) / SAVED_MODEL_FILE
        return main if main.is_file() else super().main_file_in(folder)

    def sniff(self, path: Path) -> bool:
        folder = saved_model_dir(path)
        return folder is not None and (folder / METADATA_ASSET).is_file()

    def read_native_metadata(self, path: Path) -> Metadata | None:
        folder = saved_model_dir(path)
        if folder is None or not (folder / METADATA_ASSET).is_file():
            return None
        try:
            return Metadata.from_json((folder / METADATA_ASSET).read_text())
        except (ValueError, KeyError, TypeError) as err:
            raise BadArtifactError(f"{folder / METADATA_ASSET} is not poseexport metadata", str(err),
                                   "copy the SavedModel again, or re-export it") from err


class SavedModelRunner(Runner):
    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        check_cpu(device, "TF SavedModel")
        tf = import_tensorflow(threads)
        folder = saved_model_dir(artifact.main_file) or Path(artifact.main_file)
        self.model = open_model_file("TF SavedModel", [folder / SAVED_MODEL_FILE],
                                     lambda: tf.saved_model.load(str(folder)))
        if SIGNATURE not in self.model.signatures:
            raise BadArtifactError(f"{folder} has no '{SIGNATURE}' signature",
                                   f"it offers {', '.join(self.model.signatures) or 'none'}",
                                   "re-export it with poseexport convert --format saved_model")
        self.fn = self.model.signatures[SIGNATURE]
        self.input_name = self.metadata.inputs[0].name
        self.output_names = [o.name for o in self.metadata.outputs]
        given = self.fn.structured_outputs
        missing = [n for n in self.output_names if n not in given]
        if missing:
            raise BadArtifactError(f"{folder} lacks the output(s) {', '.join(missing)} its metadata lists",
                                   "the metadata belongs to another export", "re-export the artifact")
        check_output_shapes(self.metadata, [given[n].shape.as_list() for n in self.output_names], self.where)
        self.tf = tf

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        out = self.fn(**{self.input_name: self.tf.constant(inputs)})
        return [out[n].numpy() for n in self.output_names]

    def close(self) -> None:
        self.fn = None
        self.model = None


def saved_model_dir(path: Path) -> Path | None:
    """The SavedModel folder: `path` itself, or the folder of its saved_model.pb."""
    path = Path(path)
    if path.is_dir() and (path / SAVED_MODEL_FILE).is_file():
        return path
    if path.name == SAVED_MODEL_FILE and path.is_file():
        return path.parent
    return None
