"""Join results of several runs (CI jobs, one per cell or runner) into one report.

Rows keep the host they ran on. Each file's accuracy deltas were taken against the PyTorch
row of its own run, on its own host, so they stay as they are; the PyTorch rows of every
host are kept (one per host), the other cells once per (cell, host).
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from ..errors import BadInputError
from .baseline import load_results


def merge_results(paths: list[str | Path], command: list[str] | None = None) -> dict:
    if not paths:
        raise BadInputError("Nothing to merge", "no result files were given",
                            "pass the cell JSON files: poseexport benchmark merge cell*.json")
    parts = [load_results(p) for p in paths]
    rows, seen, hosts = [], set(), []
    for part in parts:
        for host in part.get("hosts") or [part.get("host", {})]:
            if host and host not in hosts:
                hosts.append(host)
        for row in part["rows"]:
            key = (row["cell"], row.get("host"))
            if key in seen:
                continue
            seen.add(key)
            rows.append(row)
    first = parts[0]
    toolchain = {}
    for part in parts:
        for name, version in part.get("toolchain", {}).items():
            toolchain.setdefault(name, version)
    return {"schema": 1, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": command or sys.argv, "run_commands": [part.get("command") or [] for part in parts],
            "merged_from": [str(p) for p in paths], "host": hosts[0] if hosts else {}, "hosts": hosts,
            "toolchain": toolchain, "options": first["options"], "thresholds": first.get("thresholds"),
            "wall_s": sum(part.get("wall_s") or 0 for part in parts), "rows": rows}
