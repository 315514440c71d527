"""Edge TPU (`_edgetpu.tflite`, the Coral accelerator): the full-integer int8-I/O TFLite with the
decode on the host (every head map its own int8 tensor and scale), compiled by Coral's
`edgetpu_compiler`, which maps the ops it supports onto the TPU and leaves the rest on the CPU.

Without the compiler, `convert` still builds and validates the int8 TFLite it would compile,
installs that at --out, and exits with an error that says so and how to get the compiler (it is a
Debian package for x86-64 Linux only). Running needs LiteRT and the Edge TPU runtime
(libedgetpu) with a Coral device; where they are absent, validation of the compiled model is
deferred to `poseexport selftest` on the device.
"""
from __future__ import annotations

import ctypes.util
import platform
import re
import shutil
from dataclasses import replace
from pathlib import Path

from poseexport.contract import (
    Artifact,
    Backend,
    Capabilities,
    OnlySourceBuilt,
    Runner,
    Source,
    require,
)
from poseexport.contract.capabilities import Availability
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.errors import MissingDependencyError, UnsupportedOptionError
from poseexport.metadata import Metadata

from .saved_model import TF_EXPORT
from .tf_convert import quiet_tf_env
from .tflite import TfliteBackend, TfliteRunner

COMPILER = "edgetpu_compiler"
GET_COMPILER = ("install Coral's Debian package on x86-64 Linux: add the repository "
                "https://packages.cloud.google.com/apt (coral-edgetpu-stable), then apt-get install "
                "edgetpu-compiler (https://coral.ai/docs/edgetpu/compiler/); it has no PyPI package and "
                "no build for ARM or macOS")
GET_RUNTIME = ("install the Edge TPU runtime (apt-get install libedgetpu1-std from the same Coral "
               "repository) and plug in a Coral device")
RUNTIME_LIBRARY = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}


def parse_compiler_report(text: str) -> dict:
    """The compiler's summary: its version and how many ops map to the TPU and to the CPU."""
    def number(pattern: str) -> int | None:
        found = re.search(pattern, text, re.IGNORECASE)
        return int(found.group(1)) if found else None

    version = re.search(r"Edge TPU Compiler version\s+([\w.]+)", text)
    return {"version": version.group(1) if version else None,
            "ops_on_tpu": number(r"Number of operations that will run on Edge TPU:\s*(\d+)"),
            "ops_on_cpu": number(r"Number of operations that will run on CPU:\s*(\d+)")}


def runtime_library() -> str | None:
    """The Edge TPU runtime library's name if the loader can find it here, else None."""
    name = RUNTIME_LIBRARY.get(platform.system())
    if name is None:
        return None
    if ctypes.util.find_library("edgetpu"):
        return name
    try:
        ctypes.CDLL(name)
    except OSError:
        return None
    return name


class EdgeTpuBackend(Backend):
    name = "edgetpu"
    title = "Edge TPU"
    extra = "tf"
    run_extra = "tflite"  # plus the Edge TPU runtime, which is no Python package
    source = Source("tflite", precision="int8", options={"int8_kind": "full-integer-io"})
    suffix = ".tflite"
    capabilities = Capabilities(precisions=("int8",), dynamic=False, nms=False, decode=("host",), layout="NHWC")
    export_requires = (*TF_EXPORT, "ai_edge_litert")
    run_requires = ("ai_edge_litert",)
    runtime_versions = {"ai-edge-litert": None}
    options = TfliteBackend.options[1:]  # simplify, for the ONNX at the start of the chain

    def availability(self) -> Availability:
        base = super().availability()
        if not base:
            return base
        if runtime_library() is None:
            return Availability(False, f"running needs the Edge TPU runtime library "
                                       f"({RUNTIME_LIBRARY.get(platform.system(), 'libedgetpu')}): {GET_RUNTIME}")
        return base

    def export_note(self) -> str | None:
        """Without the compiler the export builds and validates the int8 TFLite source only."""
        if shutil.which(COMPILER):
            return None
        return (f"{COMPILER} is not on PATH, so convert writes and validates the int8 TFLite it would "
                f"compile and stops there; to compile, {GET_COMPILER}")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        if shutil.which(COMPILER) is None:
            raise OnlySourceBuilt(source, f"compiling for the Edge TPU needs {COMPILER}, which is not on PATH",
                                  f"{GET_COMPILER}; then run the same command again, or compile the "
                                  f".tflite there with `{COMPILER} -s FILE`")
        up = source.metadata  # the int8 tensors' specs and the calibration the compiled model keeps
        ctx.metadata = replace(ctx.metadata, inputs=up.inputs, outputs=up.outputs, precision=up.precision)
        request = converter_inputs(ctx, source, out_dir, {"compiler": shutil.which(COMPILER)})
        result = run_converter("poseexport.backends.edgetpu_convert:compile_for_tpu", request, ctx.work_dir,
                               title="The Edge TPU compiler", timeout_s=self.converter_timeout_s(),
                               env=quiet_tf_env())
        ctx.metadata = Metadata.from_json(result["metadata"])  # with the compiler's version and op counts
        model = Path(result["model"])
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[model])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return EdgeTpuRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        return False  # an _edgetpu.tflite is a TFLite file: recognised by its metadata's format

    def read_native_metadata(self, path: Path):
        return TfliteBackend().read_native_metadata(path)


class EdgeTpuRunner(TfliteRunner):
    """LiteRT with the Edge TPU delegate: the compiled ops run on the Coral device."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        library = runtime_library()
        if library is None:
            raise MissingDependencyError("The Edge TPU runtime is not installed",
                                         "LiteRT needs libedgetpu to run a compiled Edge TPU model", GET_RUNTIME)
        litert = require("ai_edge_litert.interpreter", "tflite")
        try:
            self.delegate = litert.load_delegate(library)
        except (ValueError, OSError) as err:
            raise UnsupportedOptionError("The Edge TPU delegate did not start",
                                         f"loading {library} failed ({err}); is a Coral device connected?",
                                         "connect the device (lsusb shows 'Google Inc.'), or run the int8 "
                                         "TFLite artifact on the CPU") from err
        super().__init__(artifact, device, threads)

    def _interpreter(self, litert, main: Path, threads: int | None):
        return litert.Interpreter(model_path=str(main), num_threads=threads,
                                  experimental_delegates=[self.delegate])


