"""The runtime side of golden vectors: read an artifact's golden.npz and check the artifact on it.

`poseexport selftest ARTIFACT` (and `python -m poseexport selftest ARTIFACT`) runs `selftest`.
This module imports numpy and the runtime only (no torch), for devices that run artifacts;
what golden.npz holds, and how it is written at export time, is in poseexport/export/golden.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import BadArtifactError


@dataclass(frozen=True)
class GoldenVector:
    input: np.ndarray  # (R, 3, H, W) float32 in [0, 1]
    output: np.ndarray  # (R, C, M) raw columns, or (R, max_det, 6 + K*D)
    anchors: np.ndarray | None
    detections: np.ndarray
    entry: dict  # the manifest entry (image, kind, tolerance)


def read_golden(folder: Path) -> GoldenVector:
    """The golden vector of an artifact folder, as its manifest's "golden" block names it."""
    import json

    from .metadata import MANIFEST_FILE

    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BadArtifactError(f"{folder} has no {MANIFEST_FILE}", "selftest needs the whole artifact folder",
                               "pass the folder poseexport convert wrote (model, metadata, manifest, golden.npz)")
    entry = json.loads(manifest_path.read_text()).get("golden")
    if not entry:
        raise BadArtifactError(f"{folder} carries no golden vector",
                               "its manifest has no 'golden' entry (exported before golden vectors existed, "
                               "or the file was removed)", "re-export it with poseexport convert")
    path = folder / entry["file"]
    if not path.is_file():
        raise BadArtifactError(f"The golden vector {path} is missing", "the manifest names it but the file is gone",
                               "copy the whole artifact folder, or re-export it")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as err:
        raise BadArtifactError(f"The golden vector {path} cannot be read", str(err), "re-export the artifact") from err
    image = arrays["input_uint8"].astype(np.float32)
    image /= 255.0  # exactly how preprocess builds the runtime input
    return GoldenVector(input=image, output=arrays["output"], anchors=arrays.get("anchors"),
                        detections=arrays["detections"], entry=entry)


def check_golden(runner, golden: GoldenVector, tolerance=None):
    """Run `runner` on the golden inputs, one image per call (repeated to a static batch), and
    compare with the stored outputs exactly as export validation does; a ParityReport."""
    from .validate.parity import (
        DETECT_CONF,
        compare_nms_outputs,
        compare_outputs,
        run_each,
    )

    meta = runner.metadata
    precision = meta.precision.name
    tolerance = tolerance or report_tolerance(golden, meta)
    ours = run_each(runner, golden.input)  # NCHW for every format
    kpt_shape = tuple(meta.model.kpt_shape)
    names = tuple(golden.entry.get("images") or ())
    if golden.anchors is None:
        conf = float(meta.options.get("conf", DETECT_CONF))
        return compare_nms_outputs(ours, golden.output, kpt_shape, tolerance, precision, conf=conf,
                                   image_names=names)
    return compare_outputs(ours, golden.output, len(meta.model.names), kpt_shape, tolerance, precision,
                           anchors=golden.anchors, image_names=names)


def selftest(artifact: str | Path, device: str = "cpu", json_path: str | Path | None = None,
             log=print, verify: bool = True) -> bool:
    """Load an artifact folder (verified against its manifest unless `verify` is False), check it
    on its golden vector, print ✓/✗ rows; True if it passed."""
    import json

    from .runtime import load
    from .validation_status import DEFERRED, status_of, warning_line

    folder = Path(artifact)
    folder = folder if folder.is_dir() else folder.parent
    with load(folder, device=device, verify=verify) as runner:  # verified before golden.npz is read
        golden = read_golden(folder)
        report = check_golden(runner, golden)
        meta = runner.metadata
    at_export = status_of(meta.validation)
    if at_export == DEFERRED:  # exported where it cannot run: this run is its first verdict
        log(f"validation was deferred at export ({meta.validation.get('reason', '')}): this selftest on "
            "this machine gives the verdict (the artifact's files are not changed)")
    elif warning := warning_line(meta, str(folder)):
        log(warning)
    log(report.table(f"selftest {meta.format} {meta.precision.name} on {len(golden.input)} real image(s) "
                     f"({folder})"))
    stored = set(golden.entry.get("tolerance") or {})
    if stored != set(asdict(report_tolerance(golden, meta))):
        log("  note: this artifact's stored tolerance predates this poseexport; the limits it lacks are "
            f"this version's {meta.precision.name} defaults")
    log(report.verdict)
    if json_path:
        Path(json_path).write_text(json.dumps({"artifact": str(folder.resolve()), "format": meta.format,
                                               "validation_at_export": at_export, **report.to_dict()}, indent=2))
    return report.passed


def report_tolerance(golden: GoldenVector, meta):
    """The tolerance a selftest judges by: the stored one, completed with current defaults."""
    from .contract.tolerance import Tolerance

    return Tolerance.from_dict(golden.entry["tolerance"], meta.precision.name)
