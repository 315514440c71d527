"""The bad-input suite's harness: every case runs the real CLI in a subprocess and asserts the
exit code, that no traceback reached the user, the key words of the message, and that no
file was left behind or lost (a snapshot of the folders involved, before and after)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> CliResult:
    """`poseexport ARGS` in a fresh interpreter, offline, with the caller's environment."""
    full_env = {**os.environ, "POSEEXPORT_OFFLINE": "1", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "poseexport", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=cwd)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_failure(result: CliResult, *words: str, code: int | None = 2) -> None:
    """Non-zero exit (exactly `code` unless None), no traceback, every word in the message."""
    assert result.returncode != 0, result.output
    if code is not None:
        assert result.returncode == code, result.output
    assert "Traceback" not in result.output, result.output
    for word in words:
        assert word.lower() in result.output.lower(), f"{word!r} not in:\n{result.output}"


def snapshot(*folders: Path) -> dict[str, str]:
    """path -> sha256 of every file (and '<dir>' for every folder) under `folders`."""
    state: dict[str, str] = {}
    for folder in folders:
        if not folder.exists():
            continue
        for root, dirs, files in os.walk(folder):
            for d in dirs:
                state[os.path.join(root, d)] = "<dir>"
            for f in files:
                path = os.path.join(root, f)
                state[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return state
