"""The run folder: project/name (name2, name3, ... when taken, unless exist_ok) and args.yaml."""
from __future__ import annotations

from pathlib import Path

import yaml


def new_run_dir(project: str | Path, name: str, exist_ok: bool) -> Path:
    """project/name, or the first free project/name<N> (N = 2, 3, ...) when it exists."""
    base = Path(project) / name
    path = base
    n = 2
    while path.exists() and not exist_ok:
        path = base.with_name(f"{base.name}{n}")
        n += 1
    (path / "weights").mkdir(parents=True, exist_ok=True)
    return path


def write_args(path: Path, args: dict) -> Path:
    path.write_text(yaml.safe_dump(args, sort_keys=False))
    return path
