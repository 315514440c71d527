"""Runs a TF.js graph model in Node.js: one Node process per opened artifact (tfjs_node/
run_graph_model.mjs), fed input tensors and answering outputs through its stdin / stdout in
length-prefixed binary frames (the format is described in that script), so validating on 36
images starts Node once, not 36 times.

The TF.js backend is wasm (XNNPACK, SIMD where the CPU has it) unless $POSEEXPORT_TFJS_BACKEND
says cpu (the pure-JavaScript kernels, about 30x slower); it is never swapped silently: a backend
that does not start is an error. TF.js runs wasm single-threaded under Node (it turns wasm
threads off there), so `threads` can only cap at 1, which it already is.
"""
from __future__ import annotations

import json
import os
import queue
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from poseexport.contract import Artifact, Runner
from poseexport.contract.artifact_checks import open_model_file
from poseexport.contract.converter_process import end_child
from poseexport.device import parse_device
from poseexport.errors import (
    BadArtifactError,
    MissingDependencyError,
    UnsupportedOptionError,
)

from . import tfjs_env
from .tfjs_convert import OUTPUT_KEYS

BACKEND_ENV = "POSEEXPORT_TFJS_BACKEND"
BACKENDS = ("wasm", "cpu")
DEFAULT_BACKEND = "wasm"
START_TIMEOUT_S = 120.0  # Node start, wasm compile, model load
INFER_TIMEOUT_S = 600.0  # one batch (the cpu backend takes ~15 s per 640 image)
STOP_TIMEOUT_S = 5.0
TAIL_LINES = 15
FRAME_HEADER = struct.Struct("<I")
DTYPES = {"float32": np.float32, "int32": np.int32}


class TfjsRunner(Runner):
    """`backend`: wasm or cpu (default: $POSEEXPORT_TFJS_BACKEND, else wasm). `info` says what ran:
    the backend, wasm SIMD and threads, TF.js and Node versions."""

    def __init__(self, artifact: Artifact, device: str = "cpu", threads: int | None = None,
                 backend: str | None = None):
        super().__init__(artifact)
        if parse_device(device).kind != "cpu":
            raise UnsupportedOptionError(f"TF.js in Node cannot run on '{device}'",
                                         "poseexport runs TF.js graph models on the CPU (wasm or cpu backend)",
                                         "pass --device cpu")
        available = tfjs_env.runner_availability()
        if not available:
            raise MissingDependencyError(f"{self.where} cannot run here", available.reason, "")
        self.backend = _backend_choice(backend)
        model = Path(artifact.main_file)
        keys = (_read_json(model).get("userDefinedMetadata") or {}).get(OUTPUT_KEYS)
        if not keys or len(keys) != len(self.metadata.outputs):
            raise BadArtifactError(f"{model} does not name its outputs", f"its userDefinedMetadata lacks {OUTPUT_KEYS}",
                                   "re-export it with poseexport convert --format tfjs")
        shards = [model.parent / p for group in _read_json(model).get("weightsManifest", []) for p in group["paths"]]
        open_model_file("TF.js", [model, *shards], lambda: None)  # a missing shard is named before Node starts
        toolchain = tfjs_env.node_toolchain()
        command = [toolchain.node, str(tfjs_env.RUNNER_SCRIPT), "--packages", str(toolchain.packages),
                   "--model", str(model), "--backend", self.backend, "--outputs", ",".join(keys)]
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
        self._frames: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_frames, name="tfjs-node-reader", daemon=True).start()
        try:
            ready, _ = self._reply(START_TIMEOUT_S, "start")
        except BaseException:  # the model did not load: Node must not outlive the error
            self.close()
            raise
        self.info = {k: ready[k] for k in ("backend", "wasm", "versions") if k in ready}
        self.threads = (ready.get("wasm") or {}).get("threads", 1)

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        payload = x.tobytes()
        self._send({"shape": list(x.shape), "dtype": "float32", "nbytes": [len(payload)]}, payload)
        header, payloads = self._reply(INFER_TIMEOUT_S, "inference")
        outs = [np.frombuffer(data, dtype=DTYPES[o["dtype"]]).reshape(o["shape"])
                for o, data in zip(header["outputs"], payloads)]
        return self.checked_outputs(outs)

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

    # --- the frames ---------------------------------------------------------------------

    def _send(self, header: dict, payload: bytes) -> None:
        body = json.dumps(header).encode()
        try:
            self._proc.stdin.write(FRAME_HEADER.pack(len(body)) + body + payload)
            self._proc.stdin.flush()
        except (OSError, AttributeError, ValueError):
            self._failed("inference", "its process ended before it took the input")

    def _reply(self, timeout_s: float, doing: str) -> tuple[dict, list[bytes]]:
        try:
            frame = self._frames.get(timeout=timeout_s)
        except queue.Empty:
            self.close()
            self._failed(doing, f"Node gave no answer within {timeout_s:g} s and was stopped")
        if frame is None:
            self._failed(doing, "its Node process ended")
        header, payloads = frame
        if not header.get("ok"):
            self._failed(doing, (header.get("error") or "no reason given").splitlines()[0])
        return header, payloads

    def _read_frames(self) -> None:
        """Frames from Node's stdout into the queue; None when it ends (or sends something that
        is not a frame), so a waiting call fails at once instead of at its timeout."""
        stream = self._proc.stdout
        try:
            while True:
                head = _read_exactly(stream, FRAME_HEADER.size)
                body = None if head is None else _read_exactly(stream, FRAME_HEADER.unpack(head)[0])
                if body is None:
                    break
                header = json.loads(body)
                payloads = [_read_exactly(stream, int(n)) for n in header.get("nbytes", [])]
                if any(p is None for p in payloads):
                    break
                self._frames.put((header, payloads))
        except Exception:  # noqa: BLE001 - a closed pipe, a torn frame: the process is done for
            pass
        finally:
            self._frames.put(None)

    def _failed(self, doing: str, why: str):
        raise BadArtifactError(f"TF.js {doing} of {self.where} failed in Node ({self.backend} backend)", why,
                               "copy the artifact folder again or re-export it; report it if it persists",
                               self._stderr_tail())

    def _stderr_tail(self) -> list[str]:
        try:
            self._stderr.seek(0)
            lines = [ln for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return []
        return ["last lines of Node's stderr:", *(f"| {ln[:300]}" for ln in lines[-TAIL_LINES:])] if lines else []


def _read_exactly(stream, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _backend_choice(given: str | None) -> str:
    choice = given or os.environ.get(BACKEND_ENV, "").strip() or DEFAULT_BACKEND
    if choice not in BACKENDS:
        raise UnsupportedOptionError(f"TF.js backend '{choice}' is not one poseexport runs",
                                     f"it runs {' or '.join(BACKENDS)} in Node",
                                     f"set {BACKEND_ENV} to one of them, or unset it for {DEFAULT_BACKEND}")
    return choice


def _read_json(path: Path) -> dict:
    from .tfjs import read_model_json

    return read_model_json(path)
