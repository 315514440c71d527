"""Helpers to run `poseexport benchmark` as a user would (a subprocess) and read its results."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# few, short latency runs: the tests check figures and files, not speed
FAST = ["--model", "posenet-test.yaml", "--imgsz", "64", "--precisions", "fp32", "--warmup", "2",
        "--iterations", "10", "--latency-budget", "0.5"]
HANG_TIMEOUT_S = 30  # > the PyTorch row of that run (~5 s quiet, 15+ s on a loaded 2-core box)


@dataclass
class Run:
    code: int
    out: Path
    json_path: Path
    stderr: str

    @property
    def results(self) -> dict:
        return json.loads(self.json_path.read_text())

    def row(self, cell: str) -> dict:
        return next(r for r in self.results["rows"] if r["cell"] == cell)


def benchmark_env(cache: Path, extra_backends: bool = False) -> dict:
    env = {**os.environ, "POSEEXPORT_CACHE_DIR": str(cache)}
    if extra_backends:
        env["POSEEXPORT_EXTRA_BACKENDS"] = "segfault=crash_backends:SegfaultBackend,hang=crash_backends:HangBackend"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def poseexport_cli(args: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "poseexport", *args], capture_output=True, text=True,
                          env=env, check=False, timeout=timeout)
