"""Compare an artifact's outputs with the PyTorch reference on fixed real images.

Two kinds of rows, each judged by its own limit (printed beside it):

- raw tensors (fp32/fp16, where the tolerance sets them): box, score and keypoint channels
  on the anchors that matter (reference score >= RELEVANT_SCORE; elsewhere the outputs are
  never used; on every anchor when none matters, as on an untrained network);
- persons (every precision, what users see): both outputs decoded with the same NMS and
  matched one to one (IoU >= MATCH_IOU): reference persons with no match (missed), artifact
  persons with no match (invented: false positives), the keypoint error of matched persons
  in pixels (mean and 95th percentile) and their score drift (95th percentile: int8 moves the
  odd low-score person in a crowd by 0.4 while the rest stay within 0.1). Missed and invented persons
  are counted only among persons scoring at least the tolerance's `judge_margin` above the
  detection threshold: a person just above it may fall just under it legitimately.

When the reference finds no person on the images, the rows that need one say "not checked"
and the verdict says that persons were not compared; `match_ratio` is then None, never 1.0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..predict.nms import box_iou, non_max_suppression

RELEVANT_SCORE = 0.05
DETECT_CONF = 0.25
MATCH_IOU = 0.5
KPT_PERCENTILE = 95


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    limit: float | None
    passed: bool
    unit: str = ""
    note: str = ""  # what the value counts, or why the row was not checked
    checked: bool = True
    group: str = "persons"  # "raw": a raw-tensor row; "persons": a decoded-person row

    def row(self) -> str:
        """One printed line: mark, name, value, unit, the limit it is judged by, note."""
        if not self.checked:
            return f"  – {self.name:<30} {self.note}"
        note = f"  {self.note}" if self.note else ""
        return (f"  {'✓' if self.passed else '✗'} {self.name:<30} {self.value:>10.4g} {self.unit:<3}"
                f"(limit {self.limit:g}){note}")


def not_checked(name: str, why: str) -> Check:
    return Check(name, None, None, True, note=f"not checked: {why}", checked=False)


def limit_check(name: str, value: float, limit: float, unit: str = "", note: str = "",
                group: str = "persons") -> Check:
    return Check(name, float(value), float(limit), bool(value <= limit), unit, note, group=group)


@dataclass(frozen=True)
class ParityReport:
    precision: str
    images: int
    checks: tuple[Check, ...]
    stats: dict = field(default_factory=dict)
    image_names: tuple[str, ...] = ()

    @property
    def persons_compared(self) -> bool:
        """Did the reference find persons to compare (else only raw tensors were judged)?"""
        return bool(self.stats.get("persons_reference"))

    @property
    def raw_checked(self) -> bool:
        return any(c.checked and c.group == "raw" for c in self.checks)

    @property
    def passed(self) -> bool:
        """Every checked row within its limit, and persons or raw tensors actually compared."""
        ok = all(c.passed for c in self.checks if c.checked)
        return ok and (self.persons_compared or self.raw_checked)

    @property
    def verdict(self) -> str:
        if not all(c.passed for c in self.checks if c.checked):
            return "FAILED"
        if self.persons_compared:
            return "PASSED"
        if self.raw_checked:
            return "PASSED on raw tensors only; persons NOT compared: the reference found no persons"
        return ("NOT CHECKED: the reference found no persons, and this precision has no raw-tensor "
                "checks to judge instead")

    def to_dict(self) -> dict:
        return {"passed": self.passed, "verdict": self.verdict, "precision": self.precision,
                "images": self.images, "image_names": list(self.image_names),
                "persons_compared": self.persons_compared,
                "checks": [asdict(c) for c in self.checks], "stats": self.stats}

    def table(self, title: str | None = None) -> str:
        head = title or f"validation ({self.precision}) on {self.images} real images"
        lines = [f"{head}: {self.verdict}"]
        lines += [f"  images in {folder}: {', '.join(files)}" for folder, files in _by_folder(self.image_names)]
        return "\n".join(lines + [c.row() for c in self.checks])


def _by_folder(names) -> list[tuple[str, list[str]]]:
    """Image names grouped by folder, in order (one printed line per folder)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        folder, _, file = name.rpartition("/")
        groups.setdefault(folder + "/" if folder else "", []).append(file)
    return list(groups.items())


def compare_outputs(ours: np.ndarray, ref: np.ndarray, nc: int, kpt_shape: tuple[int, int],
                    tolerance, precision: str, anchors: np.ndarray | None = None,
                    image_names: tuple[str, ...] = ()) -> ParityReport:
    """Raw (R, 4+nc+K*D, N) outputs of the artifact vs the reference. With `anchors`, `ref` holds
    only those columns (a golden vector): raw tensors are compared there, while the artifact's
    persons are decoded from ALL its anchors, so a person it invents anywhere is counted."""
    ours, ref = ours.astype(np.float32), ref.astype(np.float32)
    raw_rows, stats = _raw_checks(ours if anchors is None else ours[:, :, anchors], ref, nc, kpt_shape, tolerance)
    det = _detection_parity(ours, ref, nc, kpt_shape, tolerance.judge_margin, tolerance.score, anchors)
    stats.update(det)
    return ParityReport(precision=precision, images=len(ref), checks=raw_rows + person_checks(det, tolerance),
                        stats=stats, image_names=tuple(image_names))


def compare_nms_outputs(ours: np.ndarray, ref: np.ndarray, kpt_shape: tuple[int, int], tolerance,
                        precision: str, conf: float = DETECT_CONF,
                        image_names: tuple[str, ...] = ()) -> ParityReport:
    """In-graph NMS outputs (R, max_det, 6+K*D), rows with score > 0 being persons (the graph kept
    those above `conf`): the same persons, boxes and keypoints."""
    ref_dets = [r[r[:, 4] > 0] for r in ref.astype(np.float32)]
    our_dets = [o[o[:, 4] > 0] for o in ours.astype(np.float32)]
    det = _match_detections(our_dets, ref_dets, kpt_shape, margin=tolerance.judge_margin, conf=conf)
    box = () if tolerance.box_px is None else (
        limit_check("matched box max error", det["box_px_max"], tolerance.box_px, "px")
        if det["persons_matched"] else not_checked("matched box max error", _why_unmatched(det)),)
    return ParityReport(precision=precision, images=len(ref), checks=box + person_checks(det, tolerance),
                        stats=det, image_names=tuple(image_names))


def person_checks(det: dict, tolerance) -> tuple[Check, ...]:
    """Missed and invented persons, matched keypoints (mean, p95) and score drift, each with its limit."""
    floor = f"scoring >= {det['judge_score']:.3g}"
    if not det["persons_reference"]:
        missed = not_checked("persons missed", "the reference found no persons")
    elif not det["persons_judged_reference"]:
        missed = not_checked("persons missed", f"no reference person {floor}")
    else:
        missed = limit_check("persons missed", det["persons_missed"], tolerance.max_missed,
                             note=f"of {det['persons_judged_reference']} reference persons {floor}")
    invented = limit_check("persons invented", det["persons_invented"], tolerance.max_invented,
                           note=f"artifact persons {floor} matching no reference person")
    p95 = f"matched keypoint p{KPT_PERCENTILE} error"
    drift = f"matched score drift p{KPT_PERCENTILE}"
    if not det["persons_matched"]:
        why = _why_unmatched(det)
        return (missed, invented, not_checked("matched keypoint mean error", why), not_checked(p95, why),
                not_checked(drift, why))
    if det["keypoints_compared"]:
        keypoints = (limit_check("matched keypoint mean error", det["kpt_px_mean"], tolerance.matched_kpt_px, "px",
                                 note=f"{det['keypoints_compared']} keypoints of {det['persons_matched']} persons"),
                     limit_check(p95, det["kpt_px_p95"], tolerance.matched_kpt_p95_px, "px"))
    else:
        why = "no matched person has a visible keypoint"
        keypoints = (not_checked("matched keypoint mean error", why), not_checked(p95, why))
    return (missed, invented, *keypoints,
            limit_check(drift, det["score_drift_p95"], tolerance.score_drift,
                        note=f"largest {det['score_drift_max']:.3g}"))


def _why_unmatched(det: dict) -> str:
    return "the reference found no persons" if not det["persons_reference"] else "no person matched"


def _raw_checks(ours: np.ndarray, ref: np.ndarray, nc: int, kpt_shape, tolerance) -> tuple[tuple, dict]:
    """Per-group raw errors; rows only for the groups the tolerance bounds."""
    k, d = kpt_shape
    relevant = ref[:, 4:4 + nc].max(1) >= RELEVANT_SCORE  # (R, N): anchors that can reach a detection
    where = f"on {int(relevant.sum())} relevant anchors"
    if not relevant.any():  # untrained network: compare every anchor rather than none
        relevant = np.ones_like(relevant)
        where = f"on all {relevant.size} anchors (none scores >= {RELEVANT_SCORE})"
    diff = np.abs(ours.astype(np.float64) - ref)
    kpt = diff[:, 4 + nc:].reshape(len(ref), k, d, -1)
    groups = {"box": diff[:, :4].max(1), "score": diff[:, 4:4 + nc].max(1), "kpt_xy": kpt[:, :, :2].max((1, 2))}
    if d == 3:
        groups["kpt_visibility"] = kpt[:, :, 2].max(1)
    stats = {f"{g}_max_all": float(v.max()) for g, v in groups.items()}
    stats.update({f"{g}_max": float(v[relevant].max()) for g, v in groups.items()})
    stats.update({f"{g}_mean": float(v[relevant].mean()) for g, v in groups.items()})
    stats["raw_anchors"] = where
    rows = []
    if tolerance.box_px is not None:
        rows.append(limit_check("box max error", stats["box_max"], tolerance.box_px, "px", where, "raw"))
    if tolerance.score is not None:
        rows.append(limit_check("score max error", stats["score_max_all"], tolerance.score, "", "on every anchor",
                                "raw"))
    if tolerance.kpt_px is not None:
        rows.append(limit_check("keypoint max error", stats["kpt_xy_max"], tolerance.kpt_px, "px", where, "raw"))
    return tuple(rows), stats


def _detection_parity(ours: np.ndarray, ref: np.ndarray, nc: int, kpt_shape, margin: float,
                      score_tolerance: float | None = None, anchors=None) -> dict:
    """Both sides through the same NMS. Where the raw score check bounds the scores (fp32, fp16),
    candidates whose score is within that bound of the reference's are ranked by the reference's
    score: of two overlapping candidates 1e-7 apart, NMS must keep the one the reference kept, or an
    untrained network (hundreds of near-equal scores) "misses" persons over rounding noise. The
    artifact's own scores are still what is thresholded, reported and compared. With `anchors`
    (a golden vector), `ref` holds only those columns of the artifact's."""
    ref_dets = non_max_suppression(ref, conf=DETECT_CONF, nc=nc)
    rank = None
    if score_tolerance is not None:
        rank = ours[:, 4:4 + nc].max(1)
        at = slice(None) if anchors is None else anchors
        ours_s, ref_s = rank[:, at], ref[:, 4:4 + nc].max(1)
        rank[:, at] = np.where(np.abs(ours_s - ref_s) <= score_tolerance, ref_s, ours_s)
    our_dets = non_max_suppression(ours, conf=DETECT_CONF, nc=nc, rank=rank)
    return _match_detections(our_dets, ref_dets, kpt_shape, margin=margin)


def _match_detections(our_dets: list, ref_dets: list, kpt_shape, margin: float = 0.0,
                      conf: float = DETECT_CONF) -> dict:
    """Greedy one-to-one matching (IoU >= MATCH_IOU) of decoded persons, reference in score order.

    Missed: reference persons scoring >= conf + margin with no match; invented: artifact persons
    scoring >= conf + margin with no match (both sides match among all their persons >= conf)."""
    k, d = kpt_shape
    floor = conf + margin
    total = found = matched = missed = invented = judged = 0
    box_errors, kpt_errors, drifts = [], [], []
    for a, b in zip(our_dets, ref_dets):
        total, found = total + len(b), found + len(a)
        used = np.zeros(len(a), bool)
        hit = np.zeros(len(b), bool)
        iou = box_iou(b[:, :4], a[:, :4]) if len(a) and len(b) else np.zeros((len(b), len(a)))
        for i in range(len(b)):
            free = np.flatnonzero(~used & (iou[i] >= MATCH_IOU))
            if not len(free):
                continue
            j = int(free[np.argmax(iou[i, free])])
            used[j] = hit[i] = True
            matched += 1
            box_errors.append(float(np.abs(a[j, :4] - b[i, :4]).max()))
            kb, ka = b[i, 6:].reshape(k, d), a[j, 6:].reshape(k, d)
            visible = kb[:, 2] >= 0.5 if d == 3 else np.ones(k, bool)
            kpt_errors.append(np.linalg.norm(ka[visible, :2] - kb[visible, :2], axis=1))
            drifts.append(abs(float(a[j, 4] - b[i, 4])))
        judged += int((b[:, 4] >= floor).sum())
        missed += int(((b[:, 4] >= floor) & ~hit).sum())
        invented += int(((a[:, 4] >= floor) & ~used).sum())
    errs = np.concatenate(kpt_errors) if kpt_errors else np.zeros(0)
    return {"persons_reference": total, "persons_artifact": found, "persons_matched": matched,
            "persons_judged_reference": judged, "persons_missed": missed, "persons_invented": invented,
            "judge_score": floor, "match_ratio": matched / total if total else None,
            "keypoints_compared": int(errs.size),
            "kpt_px_mean": float(errs.mean()) if errs.size else None,
            "kpt_px_p95": float(np.percentile(errs, KPT_PERCENTILE)) if errs.size else None,
            "kpt_px_max": float(errs.max()) if errs.size else None,
            "box_px_max": max(box_errors) if box_errors else None,
            "score_drift_max": max(drifts) if drifts else None,
            "score_drift_p95": float(np.percentile(drifts, KPT_PERCENTILE)) if drifts else None}


def run_each(runner, inputs: np.ndarray) -> np.ndarray:
    """The runner's output for each input image, one image per call (repeated to fill a
    static batch), so every format is compared on exactly the same calls."""
    batch = runner.batch or 1
    return np.concatenate([runner.forward(np.repeat(inputs[i:i + 1], batch, axis=0))[:1]
                           for i in range(len(inputs))]).astype(np.float32)


def validate_runner(runner, traced, tolerance, precision: str) -> ParityReport:
    """Run the artifact on the traced model's reference inputs and compare."""
    ours = run_each(runner, traced.reference_inputs)
    names = tuple(traced.reference_names)
    if traced.output_spec.kind == "nms":
        # the graph's own threshold: the traced NMS wrapper's, else the one the artifact records
        conf = getattr(getattr(traced, "module", None), "conf", None)
        conf = float(conf if conf is not None else runner.metadata.options.get("conf", DETECT_CONF))
        return compare_nms_outputs(ours, traced.reference_outputs, tuple(traced.facts.kpt_shape), tolerance,
                                   precision, conf=conf, image_names=names)
    return compare_outputs(ours, traced.reference_outputs, len(traced.facts.names), tuple(traced.facts.kpt_shape),
                           tolerance, precision, image_names=names)


__all__ = ["Check", "ParityReport", "compare_nms_outputs", "compare_outputs", "person_checks", "run_each",
           "validate_runner"]
