"""The export pipeline: check options and --out -> trace once -> build the source chain ->
backend export into a staging folder -> golden vector -> validate there -> metadata + manifest
-> swap into place (export/output_dir.py).

Validation runs in the staging folder, before anything is moved into place, so an export
that is interrupted or crashes at any stage leaves the previous state; an artifact on disk is
complete and its metadata says whether it passed, failed, or was not validated.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

from .. import validation_status
from ..errors import (
    ExportFailedError,
    PoseExportError,
    UnsupportedOptionError,
    ValidationFailedError,
)
from ..manifest import write_manifest
from ..metadata import METADATA_FILE, Metadata, Precision
from .calibration import load_calibration
from .context import ExportContext
from .golden import write_golden
from .memory_estimate import check_memory
from .options import ExportOptions
from .output_dir import cleanup, install, prepare_output
from .trace import TracedModel, trace_model


def export_model(model, options: ExportOptions, log=print):
    """Export `model` (a PoseModel) as asked; returns the Artifact. Never changes the request."""
    from poseexport.contract.registry import get_backend

    options = options.normalised(model.stride)
    backend = get_backend(options.format)
    check_supported(backend, options)
    options.check_calibration()
    check_memory(model, options)
    final_dir, label = output_dir(model, options)
    installed, report, validate_s = False, None, 0.0
    start = time.perf_counter()
    target = prepare_output(final_dir, label)  # refuses an unusable --out before any work
    try:
        artifact, traced, golden = build_artifact(model, backend, options, target.work)
        staging = artifact.path
        if options.validate:
            began = time.perf_counter()
            report = validate_artifact(artifact, backend, traced, log=log)
            validate_s = time.perf_counter() - began
        write_sidecars(staging, artifact.metadata, artifact.main_file.relative_to(staging), golden=golden)
        install(target, staging)
        installed = True
    finally:
        cleanup(target, installed)
    artifact = relocate(artifact, staging, final_dir)
    artifact.export_seconds = time.perf_counter() - start - validate_s  # as before: without validation
    if report is not None and not report.passed:
        raise ValidationFailedError(
            f"The {backend.title} {report.precision} artifact does not match the PyTorch model",
            f"see the ✗ rows above; the artifact is kept at {final_dir} and its metadata says "
            "validation failed",
            "try another precision or opset, or inspect it with poseexport validate")
    return artifact


def build_artifact(model, backend, options: ExportOptions, work_dir: Path):
    """Trace, calibrate, convert and write the golden vector into work_dir/artifact; returns
    (artifact, traced model, the golden vector's manifest entry or None)."""
    traced = trace_model(model, options, work_dir)
    calibration = load_calibration(options, traced.facts.stride) if options.int8 else None
    metadata = base_metadata(backend, traced, options)
    ctx = ExportContext(options=options, traced=traced, metadata=metadata, work_dir=work_dir,
                        calibration=calibration)
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
    golden = write_golden(staging, traced, backend.tolerances[options.precision]) if options.golden else None
    return artifact, traced, golden


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
    check_device(backend, options)
    available = backend.export_availability()
    if not available:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(f"{backend.title} export is not available here", available.reason, "")


def check_device(backend, options: ExportOptions) -> None:
    """--device names where the artifact will run; a format that cannot run there is refused."""
    from ..device import parse_device
    from .format_options import formats_running_on

    device = parse_device(options.device)
    if device.kind not in backend.capabilities.devices:
        others = formats_running_on(device.kind)
        raise UnsupportedOptionError(
            f"{backend.title} artifacts cannot be built for {device}",
            f"this format runs on {', '.join(backend.capabilities.devices)} only",
            f"pass --device {backend.capabilities.devices[0]}"
            + (f", or export to {' or '.join(others)}" if others else ""))


def output_dir(model, options: ExportOptions) -> tuple[Path, str]:
    """The artifact folder, and how messages name it."""
    if options.out is not None:
        path = Path(options.out).resolve()
        return path, f"--out {path}"
    suffix = "" if options.precision == "fp32" else f"_{options.precision}"
    path = Path.cwd() / f"{model.arch_name}_{options.format}{suffix}"
    return path, f"the output folder {path} (the default --out)"


def base_metadata(backend, traced: TracedModel, options: ExportOptions) -> Metadata:
    import torch

    spec = traced.input_spec
    if backend.capabilities.layout == "NHWC":
        s = spec.shape
        spec = replace(spec, layout="NHWC", shape=(s[0], s[2], s[3], s[1]))
    toolchain = {"torch": torch.__version__, **backend.toolchain_versions()}
    opts = options.record()  # the shared options and the format's own, without --out
    # known before conversion only when validation is skipped; otherwise set after it ran
    validation = None if options.validate else validation_status.not_run("exported with --no-validate")
    return Metadata(format=backend.name, precision=Precision(options.precision), inputs=(spec,),
                    outputs=(traced.output_spec,), model=traced.facts, toolchain=toolchain,
                    source_sha256=traced.source_sha256, options=json.loads(json.dumps(opts, default=str)),
                    validation=validation)


def build_source(name: str, ctx: ExportContext):
    """The traced graph, or an upstream artifact (fp32) built once per export and reused."""
    if name == "graph":
        return ctx.traced
    from poseexport.contract.registry import get_backend

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
    """metadata.json, then a manifest with the sha256 of every file in the artifact (and the
    golden vector's entry: see golden.py). The last write of an export."""
    (folder / METADATA_FILE).write_text(metadata.to_json())
    write_manifest(folder, main, metadata.format, {"golden": golden} if golden else None)


def relocate(artifact, old: Path, new: Path):
    artifact.path = new
    artifact.main_file = new / artifact.main_file.relative_to(old)
    artifact.files = [new / f.relative_to(old) for f in artifact.files]
    return artifact


def validate_artifact(artifact, backend, traced: TracedModel, log=print):
    """Compare the staged artifact with the reference; put the verdict into its metadata."""
    from ..validate import validate_runner

    precision = artifact.metadata.precision.name
    tolerance = backend.tolerances[precision]
    with backend.load(artifact) as runner:
        report = validate_runner(runner, traced, tolerance, precision)
    artifact.metadata = artifact.metadata.with_validation(validation_status.from_report(report.to_dict()))
    artifact.report = report
    log(report.table())
    return report
