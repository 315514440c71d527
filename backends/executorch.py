"""ExecuTorch (`.pte`): the torch.export program lowered to the XNNPACK delegate out of process
(executorch_convert.py); runs with ExecuTorch's Python runtime (`executorch.runtime`).

fp32, and int8 through PyTorch's PT2E flow with ExecuTorch's XNNPACKQuantizer, calibrated on the
`--data` images, the head's decode and keypoint branch kept float (executorch_int8.py). Input and
outputs stay float32 NCHW either way. Metadata: the metadata.json sidecar and, inside the program,
a constant method (METADATA_METHOD) that returns the metadata JSON.
"""
from __future__ import annotations

import importlib.metadata as md
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

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

PTE_SUFFIX = ".pte"
PTE_MAGIC = b"ET12"  # the flatbuffer file identifier of ExecuTorch programs (bytes 4-8)
METADATA_METHOD = "poseexport_metadata"  # a constant method of the program: the metadata JSON
DEFAULT_KEEP_FLOAT = "keypoints"
DEFAULT_OBSERVER = "minmax"
FP32_NOTES = ("fp32 on the XNNPACK delegate; what it does not take (nearest upsampling, softmax, arange, "
              "reshapes) runs on ExecuTorch's portable kernels")

class ExecuTorchBackend(Backend):
    name = "executorch"
    title = "ExecuTorch"
    extra = "executorch"
    source = "graph"  # lowered from the torch.export program itself
    suffix = PTE_SUFFIX
    capabilities = Capabilities(precisions=("fp32", "int8"), decode=("graph", "host"), runs_on=("linux", "darwin"))
    export_requires = ("executorch", "torchao")
    run_requires = ("executorch",)
    runtime_versions = {"executorch": None}  # a .pte from a newer ExecuTorch may not load in an older one
    # no option for what int8 keeps float: the other recipe (the whole head float) fails to lower in
    # ExecuTorch 1.5.1 (executorch_int8.py), so the keypoint branch and decode it is
    options = (FormatOption("int8_observer", str, None, "int8 activation ranges: minmax (the default) or histogram "
                            "(PyTorch's HistogramObserver, the XNNPACKQuantizer's own: seconds per image)",
                            choices=("minmax", "histogram")),)

    def check_options(self, options) -> None:
        for name in ("int8_observer",):
            value = options.option(name)
            flag = "--" + name.replace("_", "-")
            if value is not None and options.precision != "int8":
                raise UnsupportedOptionError(f"{flag} {value} applies to int8 exports only",
                                             f"this export is {options.precision}", f"add --int8, or drop {flag}")

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        import torch

        precision = ctx.options.precision
        keep = DEFAULT_KEEP_FLOAT if precision == "int8" else None
        observer = (ctx.options.option("int8_observer") or DEFAULT_OBSERVER) if precision == "int8" else None
        if keep is not None:
            ctx.record_calibration(int8_method(keep, observer, len(ctx.calibration.images)))
            ctx.metadata = replace(ctx.metadata, options={**ctx.metadata.options, "int8_keep_float": keep,
                                                          "int8_observer": observer})
        else:
            ctx.metadata = replace(ctx.metadata, precision=replace(
                ctx.metadata.precision, notes=FP32_NOTES))
        program = Path(ctx.work_dir) / "program.pt2"  # the graph crosses to the converter as a file
        torch.export.save(source.program, str(program))
        graph = SimpleNamespace(main_file=program, path=program.parent)
        request = converter_inputs(ctx, graph, out_dir, {"precision": precision, "keep_float": keep,
                                                          "observer": observer})
        result = run_converter("poseexport.backends.executorch_convert:convert", request, ctx.work_dir,
                               title="The ExecuTorch lowering (XNNPACK)", timeout_s=self.converter_timeout_s())
        model = Path(result["model"])
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[model])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return ExecuTorchRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        """A file whose flatbuffer identifier is ExecuTorch's (its metadata is read with the runtime)."""
        return Path(path).is_file() and is_pte(Path(path))

    def read_native_metadata(self, path: Path) -> Metadata | None:
        path = Path(path)
        if not is_pte(path):
            raise BadArtifactError(f"The file {path} is not an ExecuTorch program",
                                   f"it lacks the {PTE_MAGIC.decode()} identifier at bytes 4-8 (truncated or another "
                                   "format)", "copy it again, or re-export it with poseexport convert")
        program = open_model_file("ExecuTorch", [path], lambda: _runtime().load_program(path))
        if METADATA_METHOD not in program.method_names:
            return None
        return Metadata.from_json(program.load_method(METADATA_METHOD).execute([])[0])


def int8_method(keep: str, observer: str, images: int) -> str:
    """What the metadata says about how the int8 program was made."""
    kept = ("the head's decode and keypoint branch" if keep == "keypoints" else "the whole head")
    ranges = "min/max" if observer == "minmax" else "HistogramObserver"
    return (f"PT2E (torchao {md.version('torchao')}) with ExecuTorch {md.version('executorch')}'s XNNPACKQuantizer: "
            f"int8 per-channel symmetric weights, int8 per-tensor activations ({ranges}) calibrated "
            f"on {images} images; SiLU as int8 x * sigmoid(x); {kept} kept float; float32 input and outputs")


def is_pte(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8)[4:8] == PTE_MAGIC
    except OSError:
        return False


def _runtime():
    return require("executorch.runtime", "executorch").Runtime.get()


def _threadpool():
    """ExecuTorch's one CPU threadpool (process-wide), from its pybindings."""
    return require("executorch.extension.pybindings.portable_lib", "executorch")


class ExecuTorchRunner(Runner):
    """The program's `forward` method on ExecuTorch's runtime. `threads` sizes ExecuTorch's
    threadpool, which is one per process and fixed into each method when it is loaded (a method
    loaded before a resize fails in XNNPACK): so the runner reloads its method whenever another
    runner has resized the pool since."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        if parse_device(device).kind != "cpu":
            raise UnsupportedOptionError(f"ExecuTorch artifacts run on the CPU here, not on {device}",
                                         "poseexport lowers to the XNNPACK (CPU) delegate only",
                                         "pass --device cpu")
        import torch

        self.torch = torch
        self.main = Path(artifact.main_file)
        if not is_pte(self.main) and self.main.exists():
            raise BadArtifactError(f"{self.main} is not an ExecuTorch program",
                                   f"it lacks the {PTE_MAGIC.decode()} identifier at bytes 4-8",
                                   "copy it again, or re-export it with poseexport convert")
        self.pool = _threadpool()
        self.threads = int(threads) if threads else self.pool._threadpool_get_thread_count()
        self.method = None
        self._load()

    def _load(self) -> None:
        if self.pool._threadpool_get_thread_count() != self.threads:
            self.pool._unsafe_reset_threadpool(self.threads)
        self.method = None  # the old method goes before the new one is built
        self.method = open_model_file("ExecuTorch", [self.main],
                                      lambda: _runtime().load_program(self.main).load_method("forward"))

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        if self.pool._threadpool_get_thread_count() != self.threads:
            self._load()
        outs = self.method.execute([self.torch.from_numpy(np.ascontiguousarray(inputs))])
        return self.checked_outputs([o.numpy().copy() for o in outs])

    def close(self) -> None:
        self.method = None
