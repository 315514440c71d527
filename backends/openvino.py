"""OpenVINO IR (`<arch>.xml` + `.bin` in the artifact folder), converted from the fp32 ONNX.

fp32 keeps fp32 weights, fp16 stores fp16 weights (computed in f32 at run time), int8 is
NNCF post-training quantisation with the pose decode left in float (see openvino_int8).
Metadata lives in the IR's rt_info under model_info/poseexport (JSON) and in the
metadata.json sidecar. Every artifact is compiled with INFERENCE_PRECISION_HINT=f32:
on CPUs with bf16 support (AMX, AVX512_BF16) OpenVINO otherwise computes in bf16, which
is faster but no longer the model that was validated.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

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
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.metadata import METADATA_KEY, Metadata

RT_INFO_PATH = ["model_info", METADATA_KEY]  # where the metadata JSON sits in rt_info
# every precision is compiled to compute in f32 (the CPU default would be bf16)
INFERENCE_PRECISION = "f32"


class OpenVinoBackend(Backend):
    name = "openvino"
    title = "OpenVINO"
    extra = "openvino"
    source = "onnx"  # the fp32 ONNX file the pipeline derives once from the traced graph
    suffix = ""  # a folder holding <arch>.xml and <arch>.bin
    capabilities = Capabilities(precisions=("fp32", "fp16", "int8"), dynamic=True, nms=True)
    export_requires = ("openvino", "nncf")  # nncf: int8 (the same extra installs both)
    run_requires = ("openvino",)
    runtime_versions = {"openvino": None}
    # read by the ONNX source this format is converted from (the ONNX export step)
    options = (FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX "
                                                    "graph before conversion (default on; --no-simplify "
                                                    "/ simplify=False converts the exporter's graph)"),)

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        ov = require("openvino", "openvino")
        precision = ctx.options.precision
        model = ov.convert_model(str(source.main_file))
        _drop_onnx_metadata(model)
        if precision == "int8":
            from .openvino_int8 import quantize_int8

            model, method = quantize_int8(model, ctx)
            ctx.record_calibration(method)
        ctx.metadata = replace(ctx.metadata, precision=replace(
            ctx.metadata.precision, notes=f"run with INFERENCE_PRECISION_HINT={INFERENCE_PRECISION}"))
        model.set_rt_info(ctx.metadata.to_json(), RT_INFO_PATH)
        xml = out_dir / f"{ctx.traced.facts.arch}.xml"
        ov.save_model(model, str(xml), compress_to_fp16=precision == "fp16")
        return Artifact(path=out_dir, main_file=xml, metadata=ctx.metadata, files=[xml, xml.with_suffix(".bin")])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return OpenVinoRunner(artifact, device, threads)

    def main_file_in(self, folder: Path) -> Path:
        xml = _find_xml(folder)
        if xml is None:
            return super().main_file_in(folder)
        return xml

    def read_native_metadata(self, path: Path) -> Metadata | None:
        xml = _find_xml(path)
        return read_metadata(xml) if xml is not None else None

class OpenVinoRunner(Runner):
    """A compiled IR. `threads` caps CPU threads; `inference_precision` overrides the
    artifact's recorded hint (e.g. "bf16" to measure the CPU default)."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None,
                 inference_precision: str | None = None):
        super().__init__(artifact)
        ov = require("openvino", "openvino")
        dev = parse_device(device)
        core = ov.Core()
        if dev.kind != "cpu":  # OpenVINO's "GPU" is an Intel GPU; it has no CUDA device
            raise UnsupportedOptionError(f"OpenVINO cannot run on '{device}'",
                                         "OpenVINO runs on Intel devices and has no CUDA device; "
                                         f"this machine offers {', '.join(core.available_devices)}",
                                         "pass --device cpu, or export an ONNX or TorchScript artifact for CUDA")
        xml = Path(artifact.main_file)
        files = [xml, xml.with_suffix(".bin")]
        self.inference_precision = inference_precision or INFERENCE_PRECISION
        config = {"INFERENCE_PRECISION_HINT": self.inference_precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)

        def compile_ir():
            return core.compile_model(core.read_model(str(files[0]), str(files[1])), "CPU", config)

        self.compiled = open_model_file("OpenVINO", files, compile_ir)
        self.request = self.compiled.create_infer_request()
        shapes = [[d.get_length() if d.is_static else None for d in out.get_partial_shape()]
                  for out in self.compiled.outputs]
        check_output_shapes(self.metadata, shapes, self.where)
        self.n_outputs = len(shapes)

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        self.request.infer({0: inputs})
        # copies: the request reuses its output buffers on the next call
        return [np.array(self.request.get_output_tensor(i).data) for i in range(self.n_outputs)]

    def close(self) -> None:
        self.request = None
        self.compiled = None


def read_metadata(xml: Path) -> Metadata | None:
    """The poseexport JSON from an IR's rt_info, read with the XML parser (no weights needed)."""
    try:
        root = ElementTree.parse(xml).getroot()
    except (ElementTree.ParseError, OSError) as err:
        raise BadArtifactError(f"The file {xml} is not a readable OpenVINO IR", str(err),
                               "copy it again, or re-export it with poseexport convert") from err
    if root.tag != "net":
        return None
    entry = root.find("rt_info/" + "/".join(RT_INFO_PATH))
    if entry is None or entry.get("value") is None:
        return None
    return Metadata.from_json(entry.get("value"))


def _find_xml(path: Path) -> Path | None:
    """The IR's xml: the file itself, or the single .xml inside a folder."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.xml"))
        return found[0] if len(found) == 1 else None
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        head = f.read(512).lstrip()
    return path if head.startswith(b"<?xml") and b"<net " in head else None


def _drop_onnx_metadata(model) -> None:
    """convert_model copies the ONNX metadata_props into rt_info/framework, including a stale
    poseexport entry that says format "onnx": keep the other keys, drop that one."""
    rt_info = model.get_rt_info()
    if "framework" not in rt_info:
        return
    framework = rt_info["framework"]
    if METADATA_KEY not in framework:
        return
    del rt_info["framework"]
    for key, value in framework.items():
        if key != METADATA_KEY:
            model.set_rt_info(value.astype(str), ["framework", key])
