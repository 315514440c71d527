"""The matrix: plan the cells, run each in its own process, judge accuracy against the PyTorch row."""
from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from ..contract.requirements import os_name
from . import spec as S
from .host import describe_host, toolchain_versions
from .isolate import run_isolated


def plan_cells(options: S.BenchmarkOptions) -> list[tuple[S.CellSpec, dict | None]]:
    """Every (format, precision) cell, with a ready `unsupported` row for those that cannot run here.

    An unknown format name is a user error (most are typos) unless it is one of the formats
    the CI matrix already names for the future (S.PLANNED_FORMATS).
    """
    from ..contract.registry import get_backend, registered

    cells = []
    known = registered()
    for fmt in options.formats:
        if fmt not in known and fmt in S.PLANNED_FORMATS:
            reason = (f"'{fmt}' is not implemented in this poseexport version yet (planned); "
                      f"formats here: {', '.join(known)}")
            for precision in options.precisions:
                cell = S.CellSpec(fmt, precision, options)
                cells.append((cell, cell.row(S.UNSUPPORTED, "plan", reason)))
            continue
        try:
            backend = get_backend(fmt)  # an unknown name raises the registry's did-you-mean error
            reason = _unavailable(backend)
        except ImportError as err:
            backend, reason = None, f"the {fmt} plugin failed to import: {err}"
        for precision in options.precisions:
            cell = S.CellSpec(fmt, precision, options)
            why = reason or _refused(backend, precision, options)
            cells.append((cell, cell.row(S.UNSUPPORTED, "plan", why) if why else None))
    return cells


def _unavailable(backend) -> str:
    caps = backend.capabilities
    here = os_name(sys.platform)
    if here not in caps.runs_on:
        return f"{backend.title} runs on {', '.join(caps.runs_on)}, not {here}"
    for available in (backend.export_availability(), backend.availability()):  # a cell exports, then runs
        if not available:
            return available.reason
    return ""


def _refused(backend, precision: str, options: S.BenchmarkOptions) -> str:
    if precision in backend.capabilities.refused:
        return f"{backend.title} cannot export {precision}: {backend.capabilities.refused[precision]}"
    if precision not in backend.capabilities.precisions:
        return f"{backend.title} cannot export {precision}: it supports {', '.join(backend.capabilities.precisions)}"
    if precision == "int8" and not options.calib:
        return "int8 needs calibration images and none were found: pass --calib with a folder of images"
    return ""


def run_matrix(options: S.BenchmarkOptions, command: list[str] | None = None, log=None) -> dict:
    """Run the PyTorch row and every cell; return the results dict (written by report.write_all)."""
    from tqdm import tqdm

    log = log or (lambda text: tqdm.write(text, file=sys.stderr))
    out = Path(options.out).resolve()
    work = out / "cells"
    planned = plan_cells(options)
    started = time.perf_counter()
    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    host = describe_host()
    rows = []
    todo = [(S.reference_cell(options), None)] + planned
    with tqdm(total=len(todo), desc="benchmark", unit="cell", file=sys.stderr, leave=False, disable=None) as bar:
        for cell, ready in todo:
            bar.set_postfix_str(cell.name)
            row = ready or run_isolated(cell, work)
            row["host"] = host["label"]
            rows.append(row)
            bar.update(1)
            log(summary_line(row))
    judge_accuracy(rows)
    return {"schema": 1, "created": created, "command": command or sys.argv, "host": host,
            "hosts": [host], "toolchain": toolchain_versions(), "options": options.to_dict(),
            "thresholds": {"max_map_drop": S.MAX_MAP_DROP}, "wall_s": time.perf_counter() - started,
            "rows": rows}


def judge_accuracy(rows: list[dict]) -> None:
    """mAP difference from the PyTorch row of the same run; too large a drop: `accuracy failed`."""
    ref = next((r for r in rows if r["format"] == S.REFERENCE_FORMAT and r.get("val")), None)
    for row in rows:
        if row["format"] == S.REFERENCE_FORMAT or not row.get("val") or ref is None:
            continue
        delta = {k: row["val"][k] - ref["val"][k] for k in ("pose_map50-95", "pose_map50", "box_map50-95",
                                                              "box_map50") if k in row["val"]}
        row["delta"] = delta
        limit = S.MAX_MAP_DROP.get(row["precision"], S.MAX_MAP_DROP["int8"])
        drop = -delta["pose_map50-95"]
        row["accuracy"] = {"max_drop": limit, "drop": drop, "passed": drop <= limit}
        if drop > limit and row["status"] == S.OK:
            row["status"] = S.ACCURACY_FAILED
            row["error"] = (f"pose mAP50-95 {row['val']['pose_map50-95']:.4f} is {drop:.4f} below PyTorch "
                            f"({ref['val']['pose_map50-95']:.4f}); at most {limit} is allowed for {row['precision']}")


def summary_line(row: dict) -> str:
    parts = [f"{row['cell']:<20} {row['status']:<15}"]
    if row.get("export_s") is not None:
        parts.append(f"export {row['export_s']:.1f}s")
    lat = best_latency(row)
    if lat:
        parts.append(f"p50 {lat['p50_ms']:.1f}ms ({lat['threads']} thr)")
    if row.get("val"):
        parts.append(f"pose mAP {row['val']['pose_map50-95']:.4f}")
    if row["status"] not in (S.OK,) and row.get("error"):
        parts.append("— " + row["error"].strip().splitlines()[0][:160])
    return "  ".join(parts)


def best_latency(row: dict, batch: int = 1) -> dict | None:
    """The all-cores batch-1 latency entry (the headline figure), else any entry."""
    entries = row.get("latency") or []
    at_batch = [e for e in entries if e["batch"] == batch] or entries
    return max(at_batch, key=lambda e: e["threads"]) if at_batch else None
