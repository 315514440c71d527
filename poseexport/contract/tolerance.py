"""How far an artifact may differ from the PyTorch reference, per precision."""
from __future__ import annotations

from dataclasses import dataclass, replace

from poseexport.errors import BadArtifactError


@dataclass(frozen=True)
class Tolerance:
    """Largest acceptable differences against the PyTorch reference.

    Raw tensors (`box_px`, `score`, `kpt_px`) are checked where they are meaningful, fp32 and
    fp16; None: not checked. INT8 has none: it moves a person's peak score to a neighbouring
    anchor (one anchor 0.91 -> 0.00, its neighbour 0.36 -> 0.91) while the persons after NMS
    stay the same, so int8 is judged on what users see: persons missed and invented, matched
    keypoints (mean and p95) and score drift.

    Missed and invented persons are counted only among persons scoring at least `judge_margin`
    above the detection threshold (0.25): a person the reference scores just above it may fall
    just under it in the artifact (and the other way round) without anything being wrong.
    """

    box_px: float | None  # raw box channels on relevant anchors, pixels of the letterboxed input
    score: float | None  # raw score channels (0..1), every anchor
    kpt_px: float | None  # raw keypoint coordinates on relevant anchors, pixels
    matched_kpt_px: float  # mean keypoint error of matched persons, pixels
    matched_kpt_p95_px: float  # 95th percentile of the keypoint errors of matched persons
    score_drift: float  # 95th percentile of the score changes of matched persons
    max_missed: int = 0  # reference persons with no match in the artifact
    max_invented: int = 0  # artifact persons with no match in the reference (false positives)
    judge_margin: float = 0.01  # missed / invented count only persons scoring >= threshold + this

    @classmethod
    def from_dict(cls, values: dict, precision: str) -> Tolerance:
        """A tolerance as stored in a manifest. Artifacts written before the per-person limits
        lack some fields: those come from this version's defaults for `precision`; fields this
        version no longer has (`min_match_ratio`) are dropped."""
        known = {f for f in cls.__dataclass_fields__}
        given = {k: v for k, v in values.items() if k in known}
        base = DEFAULT_TOLERANCES.get(precision)
        if base is None:
            missing = known - set(given)
            required = {"matched_kpt_px", "matched_kpt_p95_px", "score_drift"}
            if missing & required:
                raise BadArtifactError(f"The stored tolerance lacks {', '.join(sorted(missing & required))}",
                                       f"no default exists for precision '{precision}' to fill it in",
                                       "re-export the artifact with this poseexport version")
            return cls(**{"box_px": None, "score": None, "kpt_px": None, **given})
        return replace(base, **given)


# measured on yolo11n-pose (see docs/validation.md): fp32 every figure < 1e-3; fp16 matched
# keypoints 0.10 px mean / 0.17 px p95, score drift 0.002; int8 (9 images: the 5 shipped photos
# and 4 calibration images, 44 persons) see the int8 entry
DEFAULT_TOLERANCES = {
    "fp32": Tolerance(box_px=0.05, score=1e-3, kpt_px=0.05, matched_kpt_px=0.05, matched_kpt_p95_px=0.1,
                      score_drift=2e-3, judge_margin=0.01),
    "fp16": Tolerance(box_px=2.0, score=0.05, kpt_px=3.0, matched_kpt_px=1.0, matched_kpt_p95_px=3.0,
                      score_drift=0.05, judge_margin=0.02),
    "bf16": Tolerance(box_px=8.0, score=0.2, kpt_px=8.0, matched_kpt_px=4.0, matched_kpt_p95_px=10.0,
                      score_drift=0.1, max_missed=1, max_invented=1, judge_margin=0.05),
    # ONNX Runtime QDQ and NNCF, 7-bit weights, 211 calibration images, 9 images (39 persons above
    # 0.35): matched keypoints 2.3-2.6 px mean / 7-9 px p95, score drift p95 0.13-0.20 (the largest:
    # a 0.30 person read 0.69 by OpenVINO), at most 1 person missed and 1 invented
    "int8": Tolerance(box_px=None, score=None, kpt_px=None, matched_kpt_px=4.0, matched_kpt_p95_px=15.0,
                      score_drift=0.25, max_missed=2, max_invented=2, judge_margin=0.1),
}
