"""TorchScript: the torch.export program re-traced by torch.jit; fp32 and fp16.

Metadata lives in the archive's extra files (`poseexport.json`) and the sidecar. With
`mobile=True` a lite-interpreter copy (`.ptl`) is written too, mobile-optimised when
the torch build has XNNPACK.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from poseexport.contract import Artifact, Backend, Capabilities, FormatOption, Runner
from poseexport.contract.artifact_checks import open_model_file
from poseexport.errors import BadArtifactError
from poseexport.metadata import Metadata

EXTRA_FILE = "poseexport.json"


class TorchScriptBackend(Backend):
    name = "torchscript"
    title = "TorchScript"
    extra = None  # torch itself
    source = "graph"
    suffix = ".torchscript"
    capabilities = Capabilities(precisions=("fp32", "fp16"), dynamic=False, nms=True,
                                devices=("cpu", "cuda"))
    run_requires = ("torch",)  # exporting needs torch too, which the core always has
    options = (FormatOption("mobile", bool, False, "also write a lite-interpreter copy (.ptl), "
                                                   "mobile-optimised when torch has XNNPACK"),)
    runtime_versions = {"torch": None}  # an archive from a newer torch may not load in an older one

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        import copy

        import torch

        module = source.program.module()  # the graph traced once by torch.export
        example = source.example
        if ctx.options.precision == "fp16":
            # the exported graph asserts float32 inputs; a half copy of the export-mode module
            # (the same fused network the program came from) is traced instead
            module, example = copy.deepcopy(source.module).half(), example.half()
            ctx.metadata = with_dtype(ctx.metadata, "float16")  # the half module takes and gives fp16
        with torch.no_grad():
            scripted = torch.jit.trace(module, example, check_trace=False)
        scripted = torch.jit.freeze(scripted.eval())
        path = out_dir / f"{ctx.traced.facts.arch}{self.suffix}"
        extra = {EXTRA_FILE: ctx.metadata.to_json()}
        torch.jit.save(scripted, str(path), _extra_files=extra)
        files = [path]
        if ctx.options.option("mobile"):
            files.append(_save_mobile(scripted, path.with_suffix(".ptl"), extra))
        return Artifact(path=out_dir, main_file=path, metadata=ctx.metadata, files=files)

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        return TorchScriptRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        if path.is_file() and path.suffix.lower() in (self.suffix, ".ptl") and not zipfile.is_zipfile(path):
            raise BadArtifactError(f"The file {path} is not a readable TorchScript archive",
                                   "it is not a zip archive: truncated, corrupt or not TorchScript",
                                   "copy it again, or re-export it with poseexport convert")
        return path.is_file() and zipfile.is_zipfile(path) and read_metadata(path) is not None

    def read_native_metadata(self, path: Path) -> Metadata | None:
        return read_metadata(path)


class TorchScriptRunner(Runner):
    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        import torch

        if threads:  # torch's intra-op pool is per process, so this applies process-wide
            torch.set_num_threads(threads)
        from poseexport.model import (
            parse_device,  # refuses a CUDA device this torch cannot use
        )

        self.torch = torch
        self.device = parse_device(device)
        main = Path(artifact.main_file)
        self.module = open_model_file("TorchScript", [main],
                                      lambda: torch.jit.load(str(main), map_location=self.device).eval())
        # fp16 artifacts from before the input spec said float16 still take float32 inputs
        self.legacy_half = self.metadata.precision.name == "fp16" and self.input_spec.dtype == "float32"

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        torch = self.torch
        x = torch.from_numpy(inputs).to(self.device)
        with torch.inference_mode():
            out = self.module(x.half() if self.legacy_half else x)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        if self.legacy_half:
            outs = [o.float() for o in outs]
        return self.checked_outputs([o.cpu().numpy() for o in outs])  # TorchScript declares no output shape


def with_dtype(metadata: Metadata, dtype: str) -> Metadata:
    """The metadata with every input and output tensor of dtype `dtype`."""
    from dataclasses import replace

    return replace(metadata, inputs=tuple(replace(i, dtype=dtype) for i in metadata.inputs),
                   outputs=tuple(replace(o, dtype=dtype) for o in metadata.outputs))


def read_metadata(path: Path) -> Metadata | None:
    try:
        with zipfile.ZipFile(path) as archive:
            hits = [n for n in archive.namelist() if n.endswith(f"extra/{EXTRA_FILE}")]
            if not hits:
                return None
            return Metadata.from_json(archive.read(hits[0]))
    except zipfile.BadZipFile as err:
        raise BadArtifactError(f"The file {path} is not a TorchScript archive", str(err),
                               "copy it again, or re-export it with poseexport convert") from err


def _save_mobile(scripted, path: Path, extra: dict) -> Path:
    from torch.utils.mobile_optimizer import optimize_for_mobile

    try:
        mobile = optimize_for_mobile(scripted)
        note = "optimize_for_mobile"
    except RuntimeError:  # this torch build lacks XNNPACK: save the plain lite module
        mobile, note = scripted, "lite interpreter (no XNNPACK in this torch build: not optimised)"
    extra = {**extra, "poseexport-mobile.txt": note}
    mobile._save_for_lite_interpreter(str(path), _extra_files=extra)
    return path
