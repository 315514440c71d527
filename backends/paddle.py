"""PaddlePaddle inference model (`<arch>.json` + `<arch>.pdiparams` in the artifact folder), fp32.

Converted from the fp32 ONNX by x2paddle's onnx2paddle in its own process (paddle_convert, with
the onnx shims of paddle_onnx_shims; feedback off), and run by Paddle Inference in a child
process per opened artifact (paddle_runner, paddle_worker): `import tensorflow` or coremltools
followed by `import paddle` in one process segfaults, so Paddle never loads where poseexport runs.
Paddle Inference runs with oneDNN off (its oneDNN path fails on nearest_interp's double-array
scale attribute); the settings are recorded in the metadata (`options.paddle_inference`).
Metadata: a top-level "poseexport" entry in the PIR program JSON (Paddle ignores keys it does not
know) and the metadata.json sidecar.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from poseexport.contract import Artifact, Backend, Capabilities, FormatOption, Runner
from poseexport.contract.converter_process import converter_inputs, run_converter
from poseexport.errors import BadArtifactError
from poseexport.metadata import METADATA_KEY, Metadata

PARAMS_SUFFIX = ".pdiparams"
PIR_MAGIC = b'"magic":"pir"'  # in the first bytes of every PIR program JSON
PRECISION_NOTES = ("Paddle Inference on the CPU with oneDNN (MKLDNN) disabled: its oneDNN path rejects "
                   "nearest_interp's double-array scale attribute; IR optimisation on; float32 throughout")


class PaddleBackend(Backend):
    name = "paddle"
    title = "PaddlePaddle"
    extra = "paddle"
    source = "onnx"  # the fp32 ONNX file the pipeline derives once from the traced graph
    suffix = ""  # a folder: <arch>.json (the PIR program) and <arch>.pdiparams
    capabilities = Capabilities(precisions=("fp32",))
    export_requires = ("paddle", "x2paddle", "onnx")
    run_requires = ("paddle",)
    runtime_versions = {"paddlepaddle": None}
    convert_timeout_s = 600.0
    # read by the ONNX source this format is converted from (the ONNX export step)
    options = (FormatOption("simplify", bool, True, "onnxslim simplification of the intermediate ONNX "
                                                    "graph before conversion (default on)"),)

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        from .paddle_runner import DEFAULT_SETTINGS

        ctx.metadata = replace(ctx.metadata, precision=replace(ctx.metadata.precision, notes=PRECISION_NOTES),
                               options={**ctx.metadata.options, "paddle_inference": dict(DEFAULT_SETTINGS)})
        request = converter_inputs(ctx, source, out_dir)
        result = run_converter("poseexport.backends.paddle_convert:convert", request, ctx.work_dir,
                               title="The Paddle converter (x2paddle)", timeout_s=self.converter_timeout_s(),
                               env={"GLOG_minloglevel": "2"})
        ctx.metadata = replace(ctx.metadata, toolchain={**ctx.metadata.toolchain, **result["versions"]})
        program, params = Path(result["program"]), Path(result["params"])
        embed_metadata(program, ctx.metadata)
        return Artifact(path=out_dir, main_file=program, metadata=ctx.metadata, files=[program, params])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None) -> Runner:
        from .paddle_runner import PaddleRunner

        return PaddleRunner(artifact, device, threads)

    def main_file_in(self, folder: Path) -> Path:
        program = find_program(folder)
        if program is None:
            raise BadArtifactError(f"{folder} holds no Paddle program", f"no .json PIR program with its "
                                   f"{PARAMS_SUFFIX} beside it", "pass the artifact folder poseexport convert wrote")
        return program

    def sniff(self, path: Path) -> bool:
        program = find_program(Path(path))
        return program is not None and read_metadata(program) is not None

    def read_native_metadata(self, path: Path) -> Metadata | None:
        program = find_program(Path(path))
        return read_metadata(program) if program is not None else None


def params_file(program: Path) -> Path:
    """The weights beside a program: `<stem>.pdiparams`."""
    return Path(program).with_suffix(PARAMS_SUFFIX)


def is_program(path: Path) -> bool:
    """A PIR program JSON, told by its first bytes (a program is megabytes: never parsed to sniff)."""
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and PIR_MAGIC in head.replace(b" ", b"")


def find_program(path: Path) -> Path | None:
    """The program: the file itself, or the single program with its weights inside a folder."""
    if path.is_file():
        return path if is_program(path) else None
    if not path.is_dir():
        return None
    found = [p for p in sorted(path.glob("*.json")) if params_file(p).is_file() and is_program(p)]
    return found[0] if len(found) == 1 else None


def read_metadata(program: Path) -> Metadata | None:
    """The poseexport metadata in the program JSON (None: not ours)."""
    try:
        data = json.loads(Path(program).read_bytes())
    except (OSError, ValueError) as err:
        raise BadArtifactError(f"{program} is not a readable Paddle program", str(err),
                               "copy it again, or re-export it with poseexport convert") from err
    found = data.get(METADATA_KEY) if isinstance(data, dict) else None
    return None if found is None else Metadata.from_json(json.dumps(found))


def embed_metadata(program: Path, metadata: Metadata) -> None:
    """The metadata as a top-level entry of the program JSON, after Paddle's own keys."""
    data = json.loads(program.read_bytes())
    data[METADATA_KEY] = json.loads(metadata.to_json())
    program.write_text(json.dumps(data, separators=(",", ":")))
