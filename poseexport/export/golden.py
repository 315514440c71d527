"""Golden vectors: real inputs and the PyTorch outputs for them, shipped inside the artifact.

`golden.npz` (read with allow_pickle=False) holds the export's own validation set: the R
real images the artifact was validated on (the five photos shipped with poseexport, plus up to
four of its `--data` images; the manifest entry names them), so `selftest` on a device
reproduces exactly the export-time verdict with the same tolerances. (One image is not enough: the mean keypoint error of matched
persons over one image can exceed an fp16 tolerance that the five-image mean meets, when two
near-equal anchors swap places in NMS.)

- `input_uint8` (R, 3, H, W): the letterboxed RGB pixels. The runtime input is exactly
  `input_uint8 / 255` in float32 (how `preprocess` builds it), so storing bytes is lossless
  and 4x smaller than the float tensor (3.6 MB compressed for the five shipped photos at 640x640,
  7.6 MB with four `--data` images added).
- raw outputs: `output` (R, C, M) and `anchors` (M,) — not the full (R, C, N) tensor (9.4 MB
  for yolo11n at 640) but every anchor whose PyTorch score can reach a detection in any image
  (>= RELEVANT_SCORE, the anchors validation compares) plus every ANCHOR_STRIDE-th anchor, a
  sample of the background for the score check. NMS over these columns gives the same persons
  as over all of them (NMS discards scores below 0.25 first), so the reference persons are exact;
  the artifact's persons are decoded from ALL its anchors, so a person it invents anywhere counts.
- `detections` (P, 6 + K*D) with `detection_image` (P,): the persons PyTorch decodes (NMS,
  conf 0.25) in letterboxed px, for ports that check their own decoding; `check_golden`
  decodes the raw columns with the same NMS and matches persons as export validation does.
- `images` (R,): the images' names.

For in-graph-NMS artifacts the whole (R, max_det, 6 + K*D) output is small and stored as is.
`check_golden` imports numpy and the runtime only (no torch), for devices that run artifacts.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import BadArtifactError

GOLDEN_FILE = "golden.npz"
ANCHOR_STRIDE = 16


def write_golden(folder: Path, traced, tolerance) -> dict:
    """Write golden.npz into the artifact folder; return its manifest entry."""
    # validation's own thresholds: the stored persons are the ones it decodes
    from ..predict.nms import non_max_suppression
    from ..validate.parity import DETECT_CONF, RELEVANT_SCORE

    names = [str(n) for n in traced.reference_names]
    images = np.rint(traced.reference_inputs * 255.0).astype(np.uint8)
    ref = traced.reference_outputs.astype(np.float32)
    kind = traced.output_spec.kind
    arrays = {"input_uint8": images, "images": np.asarray(names)}
    if kind == "raw":
        nc = len(traced.facts.names)
        score = ref[:, 4:4 + nc].max(1).max(0)  # best score of each anchor over the images
        keep = (score >= RELEVANT_SCORE) | (np.arange(ref.shape[2]) % ANCHOR_STRIDE == 0)
        anchors = np.flatnonzero(keep).astype(np.int32)
        persons = non_max_suppression(ref, conf=DETECT_CONF, nc=nc)
        arrays.update(output=ref[:, :, anchors], anchors=anchors)
    else:
        persons = [r[r[:, 4] > 0] for r in ref]
        arrays.update(output=ref)
    arrays.update(detections=np.concatenate(persons).astype(np.float32),
                  detection_image=np.concatenate([np.full(len(d), i, np.int32) for i, d in enumerate(persons)]))
    np.savez_compressed(folder / GOLDEN_FILE, **arrays)
    return {"file": GOLDEN_FILE, "images": names, "kind": kind,
            "anchors": "all" if kind != "raw" else f"score >= {RELEVANT_SCORE} or index % {ANCHOR_STRIDE} == 0",
            "persons": len(arrays["detections"]), "tolerance": asdict(tolerance)}


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

    from ..metadata import MANIFEST_FILE

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
    from ..validate.parity import DETECT_CONF, compare_nms_outputs, compare_outputs, run_each

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

    from ..runtime import load
    from ..validation_status import warning_line

    folder = Path(artifact)
    folder = folder if folder.is_dir() else folder.parent
    with load(folder, device=device, verify=verify) as runner:  # verified before golden.npz is read
        golden = read_golden(folder)
        report = check_golden(runner, golden)
        meta = runner.metadata
    warning = warning_line(meta, str(folder))
    if warning:
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
                                               **report.to_dict()}, indent=2))
    return report.passed


def report_tolerance(golden: GoldenVector, meta):
    """The tolerance a selftest judges by: the stored one, completed with current defaults."""
    from ..backends.base import Tolerance

    return Tolerance.from_dict(golden.entry["tolerance"], meta.precision.name)


def main(argv: list[str] | None = None) -> int:
    """`python -m poseexport.export.golden ARTIFACT`: `poseexport selftest ARTIFACT` by another name
    (neither imports torch)."""
    import sys

    from ..cli.main import main as cli_main

    return cli_main(["selftest", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
