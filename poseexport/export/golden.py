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
Reading and checking it (`read_golden`, `check_golden`, `selftest`) is the runtime side, in
poseexport/selftest.py: it imports numpy and the runtime only (no torch), for devices that run artifacts.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

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
