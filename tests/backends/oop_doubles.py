"""Backends that convert out of process (contract/converter_process.py), for its tests.

Registered through POSEEXPORT_EXTRA_BACKENDS (this folder on PYTHONPATH, so the converter
process imports this module too). All three take the fp32 ONNX the pipeline derives as their
source and hand it to a converter function below, which runs in its own process:
- `oop-ok` copies it with onnx (in the child), putting the artifact's metadata into the copy;
  the artifact loads with ONNX Runtime in the parent, as an ONNX artifact does.
- `oop-crash` prints a few lines to stderr and dies: it raises, aborts (SIGABRT) or exits 3,
  as POSEEXPORT_TEST_CRASH says (default: raises).
- `oop-hang` starts a grandchild (`sleep`, SIGTERM ignored), writes both pids to the file
  POSEEXPORT_TEST_PID_FILE names, ignores SIGTERM itself and sleeps forever; its timeout is
  HANG_TIMEOUT_S (POSEEXPORT_CONVERT_TIMEOUT_S overrides it, as for any backend).
This module imports no torch: the converter process imports it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from poseexport.contract import Artifact, Backend, Capabilities
from poseexport.contract.converter_process import (
    converter_inputs,
    read_metadata,
    run_converter,
)

CRASH_ENV = "POSEEXPORT_TEST_CRASH"  # raise | abort | exit
PID_FILE_ENV = "POSEEXPORT_TEST_PID_FILE"
HANG_TIMEOUT_S = 3.0
CRASH_LINES = ("converting layer 1 of 3", "converting layer 2 of 3", "fatal: layer 3 has no kernel")


class OutOfProcessBackend(Backend):
    """An ONNX copy made by a converter in another process; loads and runs as ONNX."""

    title = "Out-of-process ONNX copy (test)"
    source = "onnx"
    suffix = ".onnx"
    capabilities = Capabilities(precisions=("fp32",))
    export_requires = ("onnx",)
    run_requires = ("onnxruntime", "onnx")
    converter = "oop_doubles:convert_copy"
    converter_title = "The copy converter (test)"

    def converter_options(self) -> dict:
        return {}

    def export(self, ctx, source, out_dir: Path) -> Artifact:
        request = converter_inputs(ctx, source, out_dir, self.converter_options())
        result = run_converter(self.converter, request, ctx.work_dir, title=self.converter_title,
                               timeout_s=self.converter_timeout_s())
        model = Path(result["model"])
        return Artifact(path=out_dir, main_file=model, metadata=ctx.metadata, files=[model])

    def load(self, artifact: Artifact, device: str = "cpu", threads: int | None = None):
        from poseexport.backends.onnx import OnnxRunner

        return OnnxRunner(artifact, device, threads)

    def sniff(self, path: Path) -> bool:
        return False  # its artifacts are recognised by their metadata.json, never by content

    def read_native_metadata(self, path: Path):
        from poseexport.backends.onnx import read_metadata as read_onnx_metadata

        return read_onnx_metadata(path)


class OopOkBackend(OutOfProcessBackend):
    name = "oop-ok"


class OopCrashBackend(OutOfProcessBackend):
    name = "oop-crash"
    converter = "oop_doubles:convert_crash"
    converter_title = "The crashing converter (test)"

    def converter_options(self) -> dict:
        return {"mode": os.environ.get(CRASH_ENV, "raise")}


class OopHangBackend(OutOfProcessBackend):
    name = "oop-hang"
    converter = "oop_doubles:convert_hang"
    converter_title = "The hanging converter (test)"
    convert_timeout_s = HANG_TIMEOUT_S

    def converter_options(self) -> dict:
        return {"pid_file": os.environ.get(PID_FILE_ENV, "")}


class OopNeedsCompilerBackend(OutOfProcessBackend):
    """Needs a program that is not installed: refused before any work, named in `formats`."""

    name = "oop-needs-compiler"
    binaries = {"no-such-compiler-x7": "install it from https://example.invalid/compiler"}


# --- the converters: these run in the converter process ---------------------------------

def convert_copy(request: dict) -> dict:
    import onnx

    from poseexport.metadata import METADATA_KEY

    model = onnx.load(request["source"])
    metadata = read_metadata(request)
    props = {p.key: p for p in model.metadata_props}
    entry = props.get(METADATA_KEY) or model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    path = Path(request["out_dir"]) / f"{request['stem']}.onnx"
    onnx.save(model, str(path))
    Path("scratch.tmp").write_text("a converter's stray file in its working directory")
    return {"model": str(path), "pid": os.getpid(), "torch_imported": "torch" in sys.modules,
            "environment": {k: os.environ.get(k) for k in ("PIP_NO_INDEX", "HTTPS_PROXY", "PYTHONNOUSERSITE")},
            "cwd": os.getcwd()}


def convert_crash(request: dict) -> dict:
    for line in CRASH_LINES:
        print(line, file=sys.stderr, flush=True)
    Path(request["out_dir"], "half-written.onnx").write_bytes(b"\x08\x07")  # what a dying converter leaves
    mode = request["options"]["mode"]
    if mode == "abort":
        os.abort()
    if mode == "exit":
        os._exit(3)
    raise RuntimeError("simulated converter crash in layer 3")


def convert_hang(request: dict) -> dict:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it: the escalation is tested
    grandchild = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 600"])
    pid_file = Path(request["options"]["pid_file"])
    partial = pid_file.with_name(pid_file.name + ".partial")
    partial.write_text(json.dumps({"child": os.getpid(), "grandchild": grandchild.pid}))
    os.replace(partial, pid_file)  # the test never reads half a file
    while True:
        time.sleep(1)


# --- converters for the tests of run_converter itself (no export around them) ------------

def convert_echo(request: dict) -> dict:
    """What the converter process sees: its request, environment, cwd, and whether a network
    request through urllib gets anywhere."""
    import urllib.error
    import urllib.request

    print("a line of progress on stderr", file=sys.stderr)
    try:
        urllib.request.urlopen("http://example.com/", timeout=5)
        network = "reached"
    except (urllib.error.URLError, OSError) as err:
        network = f"refused: {err}"
    return {"request": request, "environ": dict(os.environ), "cwd": os.getcwd(), "network": network,
            "torch_imported": "torch" in sys.modules}


def convert_noisy(request: dict) -> dict:
    """100 numbered lines on stderr (one a progress bar redrawn with \\r), then exit status 5."""
    for i in range(100):
        print(f"progress 10%\rprogress 100% line {i}" if i == 99 else f"line {i}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(5)


def convert_leaving_a_helper(request: dict) -> dict:
    """Succeeds, but leaves a helper process running (a daemonised server, a stuck compiler)."""
    helper = subprocess.Popen(["sleep", "600"])
    return {"helper": helper.pid}


def convert_inputs_check(request: dict) -> dict:
    """What the converter reads back from the input files converter_inputs wrote."""
    from poseexport.contract.converter_process import read_calibration

    images = read_calibration(request)
    metadata = read_metadata(request)
    return {"shape": list(images.shape), "dtype": str(images.dtype), "sum": float(images.astype("float64").sum()),
            "first": float(images[0, 0, 0, 0]), "format": metadata.format, "arch": metadata.model.arch,
            "kpt_shape": list(metadata.model.kpt_shape), "torch_imported": "torch" in sys.modules}
