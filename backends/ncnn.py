"""NCNN (a folder with `<arch>.ncnn.param` + `<arch>.ncnn.bin`), converted from the fp32 ONNX by
pnnx out of process; runs with the `ncnn` Python package.

fp32 stores fp32 weights and the runner switches NCNN's fp16 and bf16 storage/arithmetic off, so
the artifact computes in fp32 on every CPU (on ARM, NCNN's defaults compute in fp16). fp16 stores
fp16 weights (pnnx's default) and runs with NCNN's defaults. int8 is refused: NCNN's quantisation
tools (ncnn2table, ncnn2int8) are C++ programs built from the ncnn source tree, and no package
registry ships them. NCNN's files have no metadata slot: the metadata lives in the sidecar.
"""
from __future__ import annotations

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
from poseexport.contract.artifact_checks import open_model_file
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.device import parse_device
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.metadata import Metadata

PARAM_SUFFIX, BIN_SUFFIX = ".ncnn.param", ".ncnn.bin"
PARAM_MAGIC = "7767517"  # the first line of every NCNN .param file
INPUT_BLOB = "in0"  # pnnx names the input in0 and the outputs out0, out1, ... in the ONNX order
INT8_REFUSED = ("NCNN's int8 needs its quantisation tools (ncnn2table, ncnn2int8), C++ programs in tools/quantize "
                "of the ncnn source tree; neither the ncnn nor the pnnx wheel on PyPI ships them and ncnn's "
                "sdist holds src/ and python/ only (checked for 1.0.20261020), so poseexport cannot build or "
                "calibrate an int8 NCNN model reproducibly")
# what the runner sets, recorded in the metadata so the artifact says how it was validated
FP32_OPTIONS = "use_fp16_packed/storage/arithmetic=False, use_bf16_storage=False"


class NcnnBackend(Backend):
    name = "ncnn"
    title = "NCNN"
    extra = "ncnn"
    source = "onnx"  # pnnx converts the fp32 ONNX the pipeline derives once from the traced graph
    suffix = ""  # a folder holding the .param and .bin
    capabilities = Capabilities(precisions=("fp32", "fp16"), decode=("graph", "host"),
                                refused={"int8": INT8_REFUSED})
    export_requires = ("pnnx", "ncnn")
    run_requires = ("ncnn",)
    runtime_versions = {"ncnn": None}
    native_metadata = False  # NCNN's .param / .bin have no slot for it
    options = (FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX graph "
                                                    "(default on)"),)

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        from dataclasses import replace

        precision = ctx.options.precision
        notes = (f"computed in fp32: the runner sets {FP32_OPTIONS}" if precision == "fp32" else
                 "fp16 weights (pnnx fp16=1); run with NCNN's default options")
        ctx.metadata = replace(ctx.metadata, precision=replace(ctx.metadata.precision, notes=notes))
        request = converter_inputs(ctx, source, out_dir, {"fp16": precision == "fp16",
                                                          "shape": list(ctx.metadata.inputs[0].shape)})
        result = run_converter("poseexport.backends.ncnn_convert:convert", request, ctx.work_dir,
                               title="The NCNN converter (pnnx)", timeout_s=self.converter_timeout_s())
        param, weights = Path(result["param"]), Path(result["bin"])
        return Artifact(path=out_dir, main_file=param, metadata=ctx.metadata, files=[param, weights])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return NcnnRunner(artifact, device, threads)

    def main_file_in(self, folder: Path) -> Path:
        found = sorted(Path(folder).glob(f"*{PARAM_SUFFIX}"))
        if len(found) != 1:
            raise BadArtifactError(f"{folder} holds {len(found)} NCNN .param files", "an NCNN artifact has one",
                                   "pass the .param file itself, or re-export")
        return found[0]

    def sniff(self, path: Path) -> bool:
        """A .param file (or a folder with one) that starts with NCNN's magic line."""
        path = Path(path)
        if path.is_dir():
            found = sorted(path.glob(f"*{PARAM_SUFFIX}"))
            if len(found) != 1:
                return False
            path = found[0]
        return path.is_file() and is_ncnn_param(path)

    def read_native_metadata(self, path: Path) -> Metadata | None:
        return None  # NCNN's files have no slot: the sidecar holds it


def is_ncnn_param(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(PARAM_MAGIC) + 1).strip() == PARAM_MAGIC.encode()
    except OSError:
        return False


class NcnnRunner(Runner):
    """An ncnn.Net; `threads` sets its thread count. NCNN runs one image per extractor, so a
    batch is run image by image."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        if parse_device(device).kind != "cpu":  # NCNN's GPU path is Vulkan, for phones and boards
            raise UnsupportedOptionError(f"NCNN artifacts run on the CPU here, not on {device}",
                                         "poseexport runs NCNN on the CPU; its Vulkan GPU path is not wired in",
                                         "pass --device cpu")
        ncnn = require("ncnn", "ncnn")
        param = Path(artifact.main_file)
        weights = param.with_name(param.name[:-len(PARAM_SUFFIX)] + BIN_SUFFIX)
        if not is_ncnn_param(param):
            raise BadArtifactError(f"{param} is not an NCNN .param file",
                                   f"its first line is not NCNN's magic number {PARAM_MAGIC}",
                                   "copy it again, or re-export it with poseexport convert")
        self.net = ncnn.Net()
        opt = self.net.opt
        if self.metadata.precision.name == "fp32":  # the model that was validated: fp32 throughout
            opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
            opt.use_bf16_storage = False
        if threads:
            opt.num_threads = int(threads)
        self.threads = opt.num_threads

        def load():
            if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
                raise RuntimeError("ncnn.Net refused the files (load_param / load_model returned non-zero)")
            return self.net

        open_model_file("NCNN", [param, weights], load)
        self.n_outputs = len(self.metadata.outputs)
        self.ncnn = ncnn

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        per_image = [self._one(np.ascontiguousarray(image)) for image in inputs]
        outs = [np.stack([outs[i] for outs in per_image]) for i in range(self.n_outputs)]
        return self.checked_outputs(outs)

    def _one(self, image: np.ndarray) -> list[np.ndarray]:
        with self.net.create_extractor() as ex:
            ex.input(INPUT_BLOB, self.ncnn.Mat(image))
            outs = []
            for i in range(self.n_outputs):
                code, mat = ex.extract(f"out{i}")
                if code != 0:
                    raise BadArtifactError(f"{self.where} has no output blob out{i}",
                                           f"NCNN's extractor returned {code}", "re-export the artifact")
                outs.append(np.array(mat))  # a copy: the Mat's memory goes with the extractor
        return outs

    def close(self) -> None:
        if getattr(self, "net", None) is not None:
            self.net.clear()
            self.net = None
