"""TF GraphDef (`.pb`): the SavedModel's serving signature frozen into one graph (variables
folded into constants) out of process, for TF 1.x-style tooling that feeds and fetches tensors
by name: feed `<input name>:0` (NHWC float32), fetch `<output name>:0` for each output the
metadata lists. The metadata JSON is also a string Const node `poseexport_metadata`.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from poseexport.contract import Artifact, Backend, Capabilities, FormatOption, Runner
from poseexport.contract.artifact_checks import check_output_shapes, open_model_file
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.errors import BadArtifactError
from poseexport.metadata import Metadata

from .graphdef_metadata import read_metadata_json
from .saved_model import TF_EXPORT
from .tf_convert import quiet_tf_env
from .tf_runtime import check_cpu, import_tensorflow


class GraphDefBackend(Backend):
    name = "pb"
    title = "TF GraphDef"
    extra = "tf"
    source = "saved_model"
    suffix = ".pb"
    capabilities = Capabilities(precisions=("fp32",), dynamic=False, nms=False, decode=("graph", "host"),
                                layout="NHWC")
    export_requires = TF_EXPORT
    run_requires = ("tensorflow",)
    runtime_versions = {"tensorflow": None}
    options = (FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX graph "
                                                    "(default on)"),)

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        ctx.metadata = replace(ctx.metadata, outputs=source.metadata.outputs)  # the layouts TF gave them
        request = converter_inputs(ctx, source, out_dir)
        result = run_converter("poseexport.backends.tf_convert:to_graphdef", request, ctx.work_dir,
                               title="The GraphDef freezer", timeout_s=self.converter_timeout_s(),
                               env=quiet_tf_env())
        model = Path(result["model"])
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[model])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return GraphDefRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        if not Path(path).is_file():
            return False
        try:
            return read_metadata_json(path) is not None
        except Exception:
            return False

    def read_native_metadata(self, path: Path) -> Metadata | None:
        try:
            text = read_metadata_json(path)
        except (ValueError, OSError) as err:
            raise BadArtifactError(f"The file {path} is not a readable GraphDef",
                                   f"it is truncated, corrupt or not a TensorFlow graph ({err})",
                                   "copy it again, or re-export it with poseexport convert") from err
        return None if text is None else Metadata.from_json(text)


class GraphDefRunner(Runner):
    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        check_cpu(device, "TF GraphDef")
        tf = import_tensorflow(threads)
        main = Path(artifact.main_file)
        input_name = self.metadata.inputs[0].name
        self.output_names = [o.name for o in self.metadata.outputs]

        def open_graph():
            graph_def = tf.compat.v1.GraphDef()
            graph_def.ParseFromString(main.read_bytes())
            imported = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
            graph = imported.graph
            return imported.prune(graph.get_tensor_by_name(f"{input_name}:0"),
                                  [graph.get_tensor_by_name(f"{n}:0") for n in self.output_names])

        self.fn = open_model_file("TF GraphDef", [main], open_graph)
        check_output_shapes(self.metadata, [t.shape.as_list() for t in self.fn.outputs], self.where)
        self.tf = tf

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        return [o.numpy() for o in self.fn(self.tf.constant(inputs))]

    def close(self) -> None:
        self.fn = None
