"""Compare a run with an earlier results.json and flag regressions beyond stated thresholds.

Per cell (matched by name and host label, e.g. Linux-x86_64):

- status: a cell that was `ok` and now is not (unsupported included: a format that
  disappeared from a runner is a regression too); its parity verdict going from passed to
  failed is reported as `parity`;
- latency: p50 at the same batch and thread count more than `latency_increase` (10 %)
  slower, and by at least `latency_floor_ms` (0.5 ms) so that sub-millisecond noise on tiny
  networks does not count;
- accuracy: pose mAP50-95 more than `map_drop` (0.005) lower;
- size: the artifact more than `size_increase` (10 %) larger.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BadInputError
from . import spec as S


@dataclass(frozen=True)
class Thresholds:
    latency_increase: float = 0.10
    latency_floor_ms: float = 0.5
    map_drop: float = 0.005
    size_increase: float = 0.10


def load_results(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise BadInputError(f"Cannot read benchmark results {path}", str(err),
                            "pass a results.json (or cell JSON) written by poseexport benchmark") from err
    if not isinstance(data, dict) or "rows" not in data:
        raise BadInputError(f"{path} is not a poseexport benchmark result", "it has no 'rows'",
                            "pass a results.json (or cell JSON) written by poseexport benchmark")
    return data


def compare(current: dict, baseline: dict, thresholds: Thresholds = Thresholds()) -> list[dict]:
    """Regressions, one dict per finding; each is also appended to its row's `regressions`."""
    before = {_key(r): r for r in baseline["rows"]}
    # a baseline row without a host label (hand-written) matches any host; otherwise hosts must
    # agree, since latency from another machine says nothing about a regression
    anywhere = {r["cell"]: r for r in baseline["rows"] if not r.get("host")}
    found = []
    for row in current["rows"]:
        old = before.get(_key(row)) or anywhere.get(row["cell"])
        if old is None:
            continue
        items = _compare_row(row, old, thresholds)
        row["regressions"] = items
        found += [{"cell": row["cell"], **item} for item in items]
    current["baseline"] = {"created": baseline.get("created"), "host": baseline.get("host", {}).get("label"),
                           "thresholds": asdict(thresholds)}
    current["regressions"] = found
    return found


def _key(row: dict) -> tuple[str, str | None]:
    return row["cell"], row.get("host")


def _compare_row(row: dict, old: dict, t: Thresholds) -> list[dict]:
    items = []
    if old.get("status") == S.OK and row.get("status") != S.OK:
        kind = "parity" if row.get("status") == S.PARITY_FAILED else "status"
        items.append({"kind": kind, "what": f"status {old['status']} -> {row['status']}",
                      "before": old["status"], "after": row["status"]})
    old_lat = {(e["batch"], e["threads"]): e["p50_ms"] for e in old.get("latency") or []}
    for entry in row.get("latency") or []:
        was = old_lat.get((entry["batch"], entry["threads"]))
        now = entry["p50_ms"]
        if was and now > was * (1 + t.latency_increase) and now - was >= t.latency_floor_ms:
            items.append({"kind": "latency", "what": f"p50 batch {entry['batch']}, {entry['threads']} thread(s) "
                          f"{was:.2f} -> {now:.2f} ms (+{(now / was - 1) * 100:.0f} %, limit "
                          f"+{t.latency_increase * 100:.0f} %)", "before": was, "after": now})
    old_map = (old.get("val") or {}).get("pose_map50-95")
    new_map = (row.get("val") or {}).get("pose_map50-95")
    if old_map is not None and new_map is not None and old_map - new_map > t.map_drop:
        items.append({"kind": "accuracy", "what": f"pose mAP50-95 {old_map:.4f} -> {new_map:.4f} "
                      f"(limit -{t.map_drop})", "before": old_map, "after": new_map})
    was, now = old.get("size_mb"), row.get("size_mb")
    if was and now and now > was * (1 + t.size_increase):
        items.append({"kind": "size", "what": f"size {was:.2f} -> {now:.2f} MB", "before": was, "after": now})
    return items


def failures(results: dict, fail_on: tuple[str, ...]) -> list[str]:
    """One line per reason the run fails under `--fail-on` (empty: exit 0)."""
    lines = []
    for row in results["rows"]:
        status = row.get("status")
        if "error" in fail_on and status in S.ERROR_STATUSES:
            lines.append(f"{row['cell']}: {status}")
        if "parity" in fail_on and status == S.PARITY_FAILED:
            lines.append(f"{row['cell']}: parity failed")
        if "accuracy" in fail_on and status == S.ACCURACY_FAILED:
            lines.append(f"{row['cell']}: accuracy failed")
    if "regression" in fail_on:
        lines += [f"{r['cell']}: regression: {r['what']}" for r in results.get("regressions") or []]
    return lines
