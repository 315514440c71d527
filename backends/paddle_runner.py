"""Runs a Paddle inference model in a child process (paddle_worker) that lives as long as the runner.

Paddle is never imported here: after TensorFlow or coremltools in one process it segfaults, and
predict, val or the benchmark may have loaded either. Inputs and outputs cross the child's
stdin / stdout as frames (paddle_frames). The child is stopped when the runner closes, and it
ends itself when this process dies; a crash or a hang in it is a BadArtifactError with the last
lines it printed, never a hang here.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from poseexport.contract import Artifact, Runner
from poseexport.contract.artifact_checks import open_model_file
from poseexport.contract.converter_process import (
    converter_env,
    describe_exit,
    end_child,
)
from poseexport.device import parse_device
from poseexport.errors import (
    BadArtifactError,
    MissingDependencyError,
    UnsupportedOptionError,
)

from .paddle_frames import read_frame, write_frame

WORKER = "poseexport.backends.paddle_worker"
START_TIMEOUT_S = 120.0  # interpreter start, Paddle import, program load and its IR passes
INFER_TIMEOUT_S = 300.0  # one batch
STOP_TIMEOUT_S = 5.0
TAIL_LINES = 15
# what Paddle Inference runs with on x86 CPUs (recorded in the metadata at export; docs/paddle.md)
DEFAULT_SETTINGS = {"device": "cpu", "mkldnn": False, "ir_optim": True}


class PaddleRunner(Runner):
    """`threads`: Paddle's CPU math library threads (default: every core). `info` says what the
    child runs with (its Paddle version, threads, oneDNN on or off)."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        super().__init__(artifact)
        if parse_device(device).kind != "cpu":
            raise UnsupportedOptionError(f"Paddle artifacts run on the CPU here, not on {device}",
                                         "poseexport runs Paddle Inference with its CPU kernels only",
                                         "pass --device cpu")
        from .paddle import PaddleBackend, params_file

        available = PaddleBackend().availability()
        if not available:
            raise MissingDependencyError(f"{self.where} cannot run here", available.reason, "")
        program = Path(artifact.main_file)
        params = params_file(program)
        open_model_file("Paddle", [program, params], lambda: None)  # a missing file is named before the child starts
        settings = {**DEFAULT_SETTINGS, **(self.metadata.options.get("paddle_inference") or {})}
        self.threads = int(threads or os.cpu_count() or 1)
        config = {"program": str(program), "params": str(params), "threads": self.threads,
                  "settings": settings, "parent_pid": os.getpid()}
        self._stderr = tempfile.TemporaryFile()
        # GLOG_minloglevel: Paddle's INFO lines would fill the stderr file on every run
        env = converter_env({"GLOG_minloglevel": "2", "FLAGS_print_ir": "0"})
        self._proc = subprocess.Popen([sys.executable, "-m", WORKER, json.dumps(config)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self._frames: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_frames, name="paddle-reader", daemon=True).start()
        try:
            ready, _ = self._reply(START_TIMEOUT_S, "loading")
        except BaseException:  # the model did not open: the child must not outlive the error
            self.close()
            raise
        self.info = {k: ready[k] for k in ("versions", "threads", "mkldnn")}
        self.n_outputs = len(ready["outputs"])

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        if self._proc is None:
            raise BadArtifactError(f"The Paddle runner of {self.where} is closed", "close() was called",
                                   "open the artifact again with poseexport.load")
        try:
            write_frame(self._proc.stdin, {}, [inputs])
        except (OSError, ValueError):
            self._failed("inference", f"its process {self._exit()} before it took the input")
        _, outs = self._reply(INFER_TIMEOUT_S, "inference")
        return self.checked_outputs(outs)  # Paddle's program declares -1 for some dimensions

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        self._proc = None
        end_child(proc, STOP_TIMEOUT_S)
        self._stderr.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
            pass

    # --- the child's answers ---------------------------------------------------------------

    def _reply(self, timeout_s: float, doing: str) -> tuple[dict, list[np.ndarray]]:
        try:
            frame = self._frames.get(timeout=timeout_s)
        except queue.Empty:
            tail = self._stderr_tail()
            self.close()
            self._failed(doing, f"it gave no answer within {timeout_s:g} s and was stopped", tail)
        if frame is None:
            self._failed(doing, f"its process {self._exit()}")
        header, arrays = frame
        if not header.get("ok"):
            self._failed(doing, f"Paddle raised {(header.get('error') or 'no reason given').splitlines()[0][:500]}")
        return header, arrays

    def _read_frames(self) -> None:
        """Frames from the child into the queue; None when it ends (or sends something that is
        not a frame), so a waiting call fails at once instead of at its timeout."""
        try:
            while (frame := read_frame(self._proc.stdout)) is not None:
                self._frames.put(frame)
        except Exception:  # noqa: BLE001 - a torn frame, a closed pipe: the child is done for
            pass
        finally:
            self._frames.put(None)

    def _exit(self) -> str:
        proc = self._proc
        if proc is None:
            return "was stopped"
        try:
            code = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        return describe_exit(code)

    def _failed(self, doing: str, why: str, tail: list[str] | None = None):
        raise BadArtifactError(f"Paddle {doing} of {self.where} failed in its child process", why,
                               "copy the artifact folder again or re-export it; report it if it persists",
                               tail if tail is not None else self._stderr_tail())

    def _stderr_tail(self) -> list[str]:
        try:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return []
        return ["last lines of the Paddle process's stderr:", *(f"| {ln[:300]}" for ln in lines[-TAIL_LINES:])] \
            if lines else []
