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
from ..contract.backend import OnlySourceBuilt
from ..contract.requirements import requirements_of, why_not_runnable_here
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

    from ..artifact_model import refuse_artifact

    refuse_artifact(model, "export")  # PoseModel(path) of an artifact: no network to trace
    options = options.normalised(model.stride)
    backend = get_backend(options.format)
    options = options.for_backend(backend)
    check_supported(backend, options)
    if backend.needs_calibration(options):
        options.check_calibration()
    check_memory(model, options)
    final_dir, label = output_dir(model, options)
    installed, report, validate_s = False, None, 0.0
    start = time.perf_counter()
    target = prepare_output(final_dir, label)  # refuses an unusable --out before any work
    try:
        try:
            artifact, traced, golden = build_artifact(model, backend, options, target.work, log)
        except OnlySourceBuilt as stop:
            install_source(stop, target)
            installed = True
            raise source_only_error(stop, backend, final_dir) from None
        staging = artifact.path
        if options.validate:
            began = time.perf_counter()
            report = validate_artifact(artifact, backend, traced, log=log, where=final_dir)
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


def build_artifact(model, backend, options: ExportOptions, work_dir: Path, log=print):
    """Trace, calibrate, convert and write the golden vector into work_dir/artifact; returns
    (artifact, traced model, the golden vector's manifest entry or None)."""
    traced = trace_model(model, options, work_dir)
    calibration = load_calibration(options, traced.facts.stride) if backend.needs_calibration(options) else None
    metadata = base_metadata(backend, traced, options)
    ctx = ExportContext(options=options, traced=traced, metadata=metadata, work_dir=work_dir,
                        calibration=calibration)
    source = build_source(backend.source, ctx, log)
    staging = work_dir / "artifact"
    staging.mkdir()
    try:
        artifact = backend.export(ctx, source, staging)
    except OnlySourceBuilt as stop:  # ship the validated source with its golden vector
        from poseexport.contract.registry import get_backend

        up = get_backend(stop.source.metadata.format)
        stop.golden = (write_golden(stop.source.path, traced, up.tolerances[stop.source.metadata.precision.name])
                       if options.golden else None)
        raise
    except PoseExportError:
        raise
    except Exception as err:  # a converter crashed: keep its message, leave nothing behind
        raise ExportFailedError(f"The {backend.title} converter failed", f"{type(err).__name__}: {err}",
                                "see the message above; try another opset or precision, or report it") from err
    golden = write_golden(staging, traced, backend.tolerances[options.precision]) if options.golden else None
    return artifact, traced, golden


def check_supported(backend, options: ExportOptions) -> None:
    caps = backend.capabilities
    if options.precision in caps.refused:
        raise UnsupportedOptionError(f"{backend.title} cannot export at {options.precision}",
                                     caps.refused[options.precision],
                                     f"choose {' or '.join(caps.precisions)}, or another format (poseexport formats)")
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
    if options.decode not in caps.decode:
        raise UnsupportedOptionError(f"{backend.title} cannot export with --decode {options.decode}",
                                     f"this backend decodes {' or '.join(f'--decode {d}' for d in caps.decode)} only",
                                     "drop --decode, or export to a format that offers it (poseexport formats)")
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


def install_source(stop: OnlySourceBuilt, target) -> None:
    """The validated source becomes the result at --out, with its sidecars."""
    source = stop.source
    if source.metadata.validation is None:  # built with validation on but its runtime absent here
        source.metadata = source.metadata.with_validation(validation_status.not_run("not validated here"))
    write_sidecars(source.path, source.metadata, source.main_file.relative_to(source.path),
                   golden=getattr(stop, "golden", None))
    install(target, source.path)


def source_only_error(stop: OnlySourceBuilt, backend, final_dir: Path) -> PoseExportError:
    from ..errors import MissingDependencyError

    meta = stop.source.metadata
    status = (meta.validation or {}).get("status", "not run")
    return MissingDependencyError(
        f"The {backend.title} artifact could not be built here",
        f"{stop.why}. What it is built from was written instead: {final_dir} holds the {meta.format} "
        f"{meta.precision.name} artifact it compiles (validation {status})", stop.fix)


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
                    outputs=traced.artifact_outputs, model=traced.facts, toolchain=toolchain,
                    source_sha256=traced.source_sha256, options=json.loads(json.dumps(opts, default=str)),
                    validation=validation, requirements=requirements_of(backend))


def build_source(declared, ctx: ExportContext, log=print):
    """The traced graph, or the upstream artifact `declared` names (contract/source.py), built once
    per export for each (format, precision, options) and validated before it is used."""
    from poseexport.contract.registry import get_backend
    from poseexport.contract.source import as_source

    source = as_source(declared)
    if source is None:
        return ctx.traced
    if source.key in ctx.traced.derived:
        return ctx.traced.derived[source.key]
    upstream = get_backend(source.format)
    options = upstream_options(ctx.options, source).for_backend(upstream)
    check_supported(upstream, options)
    calibration = ctx.calibration
    if upstream.needs_calibration(options) and calibration is None:
        options.check_calibration()
        calibration = load_calibration(options, ctx.traced.facts.stride)
    up_ctx = ExportContext(options=options, traced=ctx.traced, metadata=base_metadata(upstream, ctx.traced, options),
                           work_dir=ctx.work_dir, calibration=calibration)
    folder = ctx.work_dir / ("source-" + "-".join(str(p) for p in source.key[:2]) + f"-{len(ctx.traced.derived)}")
    folder.mkdir()
    artifact = upstream.export(up_ctx, build_source(upstream.source, up_ctx, log), folder)
    if ctx.options.validate:
        check_upstream(artifact, upstream, source, ctx, log)
    ctx.traced.derived[source.key] = artifact
    return artifact


def upstream_options(options: ExportOptions, source) -> ExportOptions:
    """The export options of an upstream stage: the downstream's shared ones (decode and NMS too:
    every stage converts the one traced graph), the source's format, precision and options, and of
    the downstream's own format options only those the upstream declares under the same name (the
    downstream declares them to pass them on: OpenVINO's simplify is its ONNX source's)."""
    from poseexport.contract.registry import get_backend

    from .format_options import declared
    from .options import CORE_OPTIONS

    if "decode" in source.options or "nms" in source.options:
        raise ExportFailedError(f"The source {source.describe()} sets decode or nms",
                                "every stage of a chain converts the same traced graph",
                                "declare the source without them; the user's --decode / --nms apply to the chain")
    takes = declared(get_backend(source.format))
    passed = {k: v for k, v in options.format_options.items() if k in takes}
    own = {**passed, **{k: v for k, v in source.options.items() if k not in CORE_OPTIONS}}
    shared = {k: v for k, v in source.options.items() if k in CORE_OPTIONS}
    upstream = replace(options, format=source.format, half=source.precision == "fp16",
                       int8=source.precision == "int8", format_options=own, **shared)
    upstream.check_format_options()  # a source declaring an option its format lacks is refused here
    return upstream


def check_upstream(artifact, upstream, source, ctx: ExportContext, log) -> None:
    """Validate an intermediate artifact where its runtime runs here; a failure stops the chain."""
    report = validate_artifact(artifact, upstream, ctx.traced, log=lambda *_: None)
    if report is None:  # deferred: its runtime cannot run here (absent, other OS / device, versions)
        log(f"upstream {source.describe()}: not validated here ({artifact.metadata.validation['reason']}); "
            "only the final artifact's validation checks the chain")
        return
    if not report.passed:
        raise ExportFailedError(f"The intermediate {upstream.title} {source.precision} artifact does not match "
                                f"the PyTorch model, so {ctx.options.format} was not built from it",
                                "its validation failed:\n" + report.table(),
                                "try another precision or opset for that stage, or report it")
    log(f"upstream {source.describe()}: validated ({report.verdict.strip()})")


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


def validate_artifact(artifact, backend, traced: TracedModel, log=print, where=None):
    """Compare the staged artifact with the reference; put the verdict into its metadata. Where
    its runtime cannot run, the verdict is deferred to `poseexport selftest` on the target (None)."""
    from ..validate import validate_runner

    precision = artifact.metadata.precision.name
    why_not = why_not_runnable_here(backend, artifact.metadata)
    if why_not:
        artifact.metadata = artifact.metadata.with_validation(validation_status.deferred(why_not))
        artifact.report = None
        log("\n".join(validation_status.deferred_lines(why_not, precision, where or artifact.path)))
        return None
    tolerance = backend.tolerances[precision]
    with backend.load(artifact) as runner:
        report = validate_runner(runner, traced, tolerance, precision)
    artifact.metadata = artifact.metadata.with_validation(validation_status.from_report(report.to_dict()))
    artifact.report = report
    log(report.table())
    return report
