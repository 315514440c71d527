"""The export pipeline: check options -> trace once -> build the source chain -> backend
export into a temp folder -> metadata + manifest -> atomic rename -> validate."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from ..errors import (
    ExportFailedError,
    PoseExportError,
    UnsupportedOptionError,
    ValidationFailedError,
)
from ..metadata import MANIFEST_FILE, METADATA_FILE, Metadata, Precision
from ..weights import sha256_file
from .calibration import load_calibration
from .context import ExportContext
from .golden import write_golden
from .options import ExportOptions
from .trace import TracedModel, trace_model


def export_model(model, options: ExportOptions, log=print):
    """Export `model` (a PoseModel) as asked; returns the Artifact. Never changes the request."""
    from poseexport.backends.registry import get_backend

    options = options.normalised(model.stride)
    backend = get_backend(options.format)
    check_supported(backend, options)
    options.check_calibration()
    final_dir = output_dir(model, options)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".poseexport-work-", dir=final_dir.parent) as work:
        work_dir = Path(work)
        traced = trace_model(model, options, work_dir)
        calibration = load_calibration(options, traced.facts.stride) if options.int8 else None
        ctx = ExportContext(options=options, traced=traced, metadata=base_metadata(backend, traced, options),
                            work_dir=work_dir, calibration=calibration)
        source = build_source(backend.source, ctx)
        staging = work_dir / "artifact"
        staging.mkdir()
        try:
            artifact = backend.export(ctx, source, staging)
        except PoseExportError:
            raise
        except Exception as err:  # a converter crashed: keep its message, leave nothing behind
            raise ExportFailedError(f"The {backend.title} converter failed", f"{type(err).__name__}: {err}",
                                    "see the message above; try another opset or precision, or report it") from err
        golden = write_golden(staging, traced, backend.tolerances[options.precision]) \
            if options.golden else None
        write_sidecars(staging, artifact.metadata, artifact.main_file.relative_to(staging), golden=golden)
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(staging, final_dir)
    artifact = relocate(artifact, staging, final_dir)
    artifact.export_seconds = time.perf_counter() - start
    if options.validate:
        validate_artifact(artifact, backend, traced, log=log)
    return artifact


def check_supported(backend, options: ExportOptions) -> None:
    caps = backend.capabilities
    if options.precision not in caps.precisions:
        raise UnsupportedOptionError(
            f"{backend.title} cannot export at {options.precision}",
            f"this backend supports {', '.join(caps.precisions)}",
            "choose one of those precisions, or another format (poseexport formats)")
    if options.dynamic and not caps.dynamic:
        raise UnsupportedOptionError(f"{backend.title} cannot export dynamic shapes",
                                     "this format needs a fixed input shape", "drop --dynamic")
    if options.nms and options.dynamic:
        raise UnsupportedOptionError("--nms and --dynamic cannot be combined",
                                     "the in-graph NMS keeps a fixed number of candidates per image",
                                     "export with a fixed size for --nms, or drop --nms")
    if options.nms and not caps.nms:
        raise UnsupportedOptionError(f"{backend.title} cannot embed NMS in the graph",
                                     "this backend exports the raw output only",
                                     "drop --nms (poseexport applies NMS after inference)")
    available = backend.export_availability()
    if not available:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(f"{backend.title} export is not available here", available.reason, "")


def output_dir(model, options: ExportOptions) -> Path:
    if options.out is not None:
        return Path(options.out).resolve()
    suffix = "" if options.precision == "fp32" else f"_{options.precision}"
    return Path.cwd() / f"{model.arch_name}_{options.format}{suffix}"


def base_metadata(backend, traced: TracedModel, options: ExportOptions) -> Metadata:
    import torch

    spec = traced.input_spec
    if backend.capabilities.layout == "NHWC":
        s = spec.shape
        spec = replace(spec, layout="NHWC", shape=(s[0], s[2], s[3], s[1]))
    toolchain = {"torch": torch.__version__, **backend.toolchain_versions()}
    opts = {k: v for k, v in asdict(options).items() if k not in ("out",)}
    return Metadata(format=backend.name, precision=Precision(options.precision), inputs=(spec,),
                    outputs=(traced.output_spec,), model=traced.facts, toolchain=toolchain,
                    source_sha256=traced.source_sha256, options=json.loads(json.dumps(opts, default=str)))


def build_source(name: str, ctx: ExportContext):
    """The traced graph, or an upstream artifact (fp32) built once per export and reused."""
    if name == "graph":
        return ctx.traced
    from poseexport.backends.registry import get_backend

    if name in ctx.traced.derived:
        return ctx.traced.derived[name]
    upstream = get_backend(name)
    up_ctx = ExportContext(options=replace(ctx.options, half=False, int8=False), traced=ctx.traced,
                           metadata=base_metadata(upstream, ctx.traced, ctx.options), work_dir=ctx.work_dir)
    folder = ctx.work_dir / f"source-{name}"
    folder.mkdir()
    artifact = upstream.export(up_ctx, build_source(upstream.source, up_ctx), folder)
    ctx.traced.derived[name] = artifact
    return artifact


def write_sidecars(folder: Path, metadata: Metadata, main: Path, golden: dict | None = None) -> None:
    """metadata.json, and a manifest with the sha256 of every file in the artifact (and the
    golden vector's entry: see golden.py)."""
    (folder / METADATA_FILE).write_text(metadata.to_json())
    files = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != MANIFEST_FILE}
    manifest = {"main": str(main), "format": metadata.format, "files": files}
    if golden:
        manifest["golden"] = golden
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def rewrite_metadata(folder: Path, metadata: Metadata) -> None:
    """Replace metadata.json; only its manifest digest changes (the model files are as written)."""
    path = folder / METADATA_FILE
    path.write_text(metadata.to_json())
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["files"][METADATA_FILE] = sha256_file(path)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def relocate(artifact, old: Path, new: Path):
    artifact.path = new
    artifact.main_file = new / artifact.main_file.relative_to(old)
    artifact.files = [new / f.relative_to(old) for f in artifact.files]
    return artifact


def validate_artifact(artifact, backend, traced: TracedModel, log=print):
    """Compare with the reference; store the verdict in metadata.json; raise if it failed."""
    from ..validate import validate_runner

    precision = artifact.metadata.precision.name
    tolerance = backend.tolerances[precision]
    with backend.load(artifact) as runner:
        report = validate_runner(runner, traced, tolerance, precision)
    artifact.metadata = artifact.metadata.with_validation(report.to_dict())
    rewrite_metadata(artifact.path, artifact.metadata)
    artifact.report = report
    log(report.table())
    if not report.passed:
        raise ValidationFailedError(
            f"The {backend.title} {precision} artifact does not match the PyTorch model",
            "see the ✗ rows above; the artifact is kept at " + str(artifact.path) + " and marked failed",
            "try another precision or opset, or inspect it with poseexport validate")
    return report
