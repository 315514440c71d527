"""Converters out of process (poseexport/contract/converter_process.py): one that succeeds, one
that crashes, one that hangs, each a real child process (test doubles in oop_doubles.py).

Asserted: a clear error within the timeout naming the converter, its exit status or signal and
its stderr tail; no process left alive (the converter, its own children, also when the parent
is interrupted or killed); nothing left behind (no --out, no staging folder, no stray file in
the working directory); a clean environment; a successful conversion that validates, loads
and passes selftest.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import poseexport
from poseexport import PoseModel
from poseexport.contract.converter_process import (
    GRACE_S,
    TAIL_LINES,
    TIMEOUT_ENV,
    converter_inputs,
    run_converter,
)
from poseexport.errors import ExportFailedError, MissingDependencyError
from poseexport.validate.parity import run_each

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bad_inputs"))
from cli_harness import assert_clean_failure, run_cli, snapshot  # noqa: E402

HERE = Path(__file__).resolve().parent
pytest.importorskip("onnxruntime")
import oop_doubles  # noqa: E402  (this folder is on sys.path: pytest's rootdir-relative import)

EXTRA = ("oop-ok=oop_doubles:OopOkBackend,oop-crash=oop_doubles:OopCrashBackend,oop-hang=oop_doubles:OopHangBackend,"
         "oop-needs-compiler=oop_doubles:OopNeedsCompilerBackend")
ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
       "POSEEXPORT_EXTRA_BACKENDS": EXTRA}
TINY = ("--imgsz", "64")
SLACK_S = 4.0  # process start and teardown on a busy 2-core machine


@pytest.fixture
def oop_env(monkeypatch):
    """The doubles registered here and importable by the converter process."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return PoseModel("posenet-test").save(tmp_path_factory.mktemp("tiny-pt") / "tiny.pt")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_dead(pids, within_s: float = 5.0) -> list[int]:
    """The pids still alive after `within_s`."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def wait_for_file(path: Path, proc: subprocess.Popen | None = None, within_s: float = 180.0) -> dict:
    deadline = time.monotonic() + within_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        assert proc is None or proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    return json.loads(path.read_text())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith((".poseexport-work-", "converter")))


# --- run_converter itself -------------------------------------------------------------

def test_the_converter_gets_a_clean_environment_files_and_no_network(oop_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_API_TOKEN", "secret")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("POSEEXPORT_SOMETHING", "kept")
    logged: list[str] = []
    result = run_converter("oop_doubles:convert_echo", {"source": "/a/b.onnx", "options": {"n": 3}}, tmp_path,
                           title="The echo converter", timeout_s=60, env={"TF_CPP_MIN_LOG_LEVEL": "2"},
                           log=logged.append)
    env = result["environ"]
    assert result["request"] == {"source": "/a/b.onnx", "options": {"n": 3}}
    assert env["PIP_NO_INDEX"] == "1" and env["PYTHONNOUSERSITE"] == "1"
    assert env["HTTPS_PROXY"] == env["https_proxy"] == env["HTTP_PROXY"] == "http://127.0.0.1:9"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2" and env["POSEEXPORT_SOMETHING"] == "kept"
    assert env["PATH"] == os.environ["PATH"] and "SOME_API_TOKEN" not in env
    assert result["network"].startswith("refused"), result["network"]
    assert result["torch_imported"] is False  # the worker itself loads no torch
    run_dir = Path(result["cwd"])
    assert run_dir.parent == tmp_path and run_dir.name.startswith("converter-")
    assert logged == ["a line of progress on stderr"]


def test_a_request_that_is_not_plain_data_is_refused_before_any_process(tmp_path):
    with pytest.raises(TypeError):
        run_converter("oop_doubles:convert_echo", {"images": np.zeros(3)}, tmp_path, title="x", timeout_s=5)


@pytest.mark.parametrize("mode, words", [
    ("raise", ["raised RuntimeError: simulated converter crash in layer 3", "exit status 1"]),
    ("abort", ["was killed by SIGABRT"]),
    ("exit", ["exited with status 3"]),
])
def test_a_crashing_converter_is_named_with_its_status_and_stderr_tail(oop_env, tmp_path, mode, words):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportFailedError) as caught:
        run_converter("oop_doubles:convert_crash", {"out_dir": str(out), "options": {"mode": mode}}, tmp_path,
                      title="The crashing converter (test)", timeout_s=60)
    text = str(caught.value)
    assert text.startswith("The crashing converter (test) failed.")
    for word in [*words, *oop_doubles.CRASH_LINES]:
        assert word in text, text
    assert caught.value.context[0].endswith("lines of its stderr:")


def test_the_error_keeps_the_last_lines_of_stderr(oop_env, tmp_path):
    with pytest.raises(ExportFailedError) as caught:
        run_converter("oop_doubles:convert_noisy", {}, tmp_path, title="The noisy converter", timeout_s=60)
    err = caught.value
    assert "exited with status 5" in str(err)
    shown = err.context[1:]
    assert len(shown) == TAIL_LINES
    assert shown[0] == f"| line {100 - TAIL_LINES}"
    assert shown[-1] == "| progress 100% line 99"  # a progress bar: what it showed last


def test_a_hanging_converter_and_its_child_are_killed_at_the_timeout(oop_env, tmp_path):
    pid_file = tmp_path / "pids.json"
    timeout = 2.0
    start = time.monotonic()
    with pytest.raises(ExportFailedError) as caught:
        run_converter("oop_doubles:convert_hang", {"options": {"pid_file": str(pid_file)}}, tmp_path,
                      title="The hanging converter (test)", timeout_s=timeout)
    elapsed = time.monotonic() - start
    assert "The hanging converter (test) timed out after 2 s" in str(caught.value)
    assert TIMEOUT_ENV in str(caught.value)
    # it ignores SIGTERM, so SIGKILL after the grace period ends it
    assert timeout + GRACE_S - 0.5 < elapsed < timeout + GRACE_S + SLACK_S
    pids = json.loads(pid_file.read_text())
    assert wait_dead(pids.values()) == []


def test_a_helper_left_running_by_a_successful_converter_is_killed(oop_env, tmp_path):
    result = run_converter("oop_doubles:convert_leaving_a_helper", {}, tmp_path, title="x", timeout_s=60)
    assert wait_dead([result["helper"]]) == []


def test_a_converter_whose_parent_is_killed_stops_with_its_children(tmp_path):
    pid_file = tmp_path / "pids.json"
    script = ("import sys; from pathlib import Path; from poseexport.contract.converter_process import run_converter; "
              f"run_converter('oop_doubles:convert_hang', {{'options': {{'pid_file': {str(pid_file)!r}}}}}, "
              f"Path({str(tmp_path)!r}), title='t', timeout_s=600)")
    parent = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **ENV})
    try:
        pids = wait_for_file(pid_file, parent, within_s=60)
        parent.kill()  # SIGKILL: the parent cannot stop anything itself
        parent.wait()
        assert wait_dead(pids.values(), within_s=5) == []
    finally:
        parent.kill()


# --- through the export pipeline ------------------------------------------------------

@pytest.fixture(scope="module")
def oop_ok(tiny, tmp_path_factory):
    """An oop-ok artifact of the tiny network: (artifact, its folder's parent)."""
    parent = tmp_path_factory.mktemp("oop-ok")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in ENV.items():
            patch.setenv(key, value)
        return tiny.export("oop-ok", imgsz=64, out=parent / "oop", log=lambda *_: None), parent


def test_inputs_cross_as_files_and_read_back_equal(oop_env, oop_ok, tmp_path):
    artifact, _ = oop_ok
    images = np.random.default_rng(3).random((5, 3, 64, 64), dtype=np.float32)
    ctx = SimpleNamespace(work_dir=tmp_path, metadata=artifact.metadata,
                          calibration=SimpleNamespace(images=images), traced=SimpleNamespace(
                              facts=SimpleNamespace(arch="posenet-test")))
    request = converter_inputs(ctx, artifact, tmp_path / "out", {"quantize": True})
    assert request["options"] == {"quantize": True} and request["stem"] == "posenet-test"
    assert request["source"] == str(artifact.main_file) and Path(request["calibration"]).suffix == ".npy"
    got = run_converter("oop_doubles:convert_inputs_check", request, tmp_path, title="t", timeout_s=60)
    assert got["shape"] == [5, 3, 64, 64] and got["dtype"] == "float32"
    assert got["first"] == float(images[0, 0, 0, 0])
    assert got["sum"] == pytest.approx(float(images.astype(np.float64).sum()), rel=1e-12)
    assert (got["format"], got["arch"], got["kpt_shape"]) == ("oop-ok", "posenet-test", [17, 3])
    assert got["torch_imported"] is False


def test_an_out_of_process_export_validates_loads_and_passes_selftest(oop_env, oop_ok, tiny_reference):
    artifact, tmp_path = oop_ok
    out = artifact.path
    assert artifact.report.passed
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["format"] == "oop-ok" and meta["validation"]["status"] == "passed"
    assert meta["toolchain"]["onnx"] == importlib.metadata.version("onnx")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["posenet-test.onnx", "metadata.json", "manifest.json", "golden.npz"])
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    with poseexport.load(out) as runner:
        assert runner.metadata.format == "oop-ok"
        np.testing.assert_allclose(run_each(runner, x), tiny_reference(x), atol=1e-4)
    selftest = run_cli("selftest", out, env=ENV)
    assert selftest.returncode == 0, selftest.output
    assert leftovers(tmp_path) == []


def test_a_crashing_converter_fails_the_cli_cleanly_and_leaves_nothing(tiny_pt, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "out"
    before = snapshot(tmp_path)
    result = run_cli("convert", "--model", tiny_pt, "--format", "oop-crash", *TINY, "--out", out, cwd=cwd, env=ENV)
    assert_clean_failure(result, "The crashing converter (test) failed", "raised RuntimeError",
                         "simulated converter crash in layer 3", "exit status 1", *oop_doubles.CRASH_LINES)
    assert snapshot(tmp_path) == before  # no --out, no work folder, nothing in the cwd


@pytest.mark.parametrize("mode, words", [("abort", "was killed by SIGABRT"), ("exit", "exited with status 3")])
def test_a_converter_that_dies_leaves_no_staging_folder(oop_env, tiny, tmp_path, monkeypatch, mode, words):
    monkeypatch.setenv(oop_doubles.CRASH_ENV, mode)
    out = tmp_path / "nested" / "out"
    with pytest.raises(ExportFailedError, match=words):
        tiny.export("oop-crash", imgsz=64, out=out, log=lambda *_: None)
    assert list(tmp_path.iterdir()) == []  # --out's parents made by the export are gone too


def test_a_hanging_export_times_out_and_no_process_survives(oop_env, tiny, tmp_path, monkeypatch):
    pid_file = tmp_path / "pids.json"
    monkeypatch.setenv(oop_doubles.PID_FILE_ENV, str(pid_file))
    out = tmp_path / "out"
    with pytest.raises(ExportFailedError, match=r"timed out after 3 s") as caught:
        tiny.export("oop-hang", imgsz=64, out=out, log=lambda *_: None)
    after_start = time.time() - pid_file.stat().st_mtime  # from the converter's start to the error
    assert after_start < oop_doubles.HANG_TIMEOUT_S + GRACE_S + SLACK_S, after_start
    assert "The hanging converter (test)" in str(caught.value)
    assert wait_dead(json.loads(pid_file.read_text()).values()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pids.json"]


def _default_sigint() -> None:
    """A pytest started as a background job of a shell inherits SIGINT ignored, and so would
    the CLI (Python keeps an inherited SIG_IGN): give it the default a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_an_interrupted_cli_stops_the_converter_and_leaves_nothing(tiny_pt, tmp_path, sig, code):
    cwd, pids_dir = tmp_path / "cwd", tmp_path / "pids"
    cwd.mkdir()
    pids_dir.mkdir()
    pid_file = pids_dir / "pids.json"
    out = cwd / "out"
    before = snapshot(cwd)
    env = {**os.environ, **ENV, "POSEEXPORT_OFFLINE": "1", oop_doubles.PID_FILE_ENV: str(pid_file),
           TIMEOUT_ENV: "300"}  # only the signal ends this converter
    proc = subprocess.Popen([sys.executable, "-m", "poseexport", "convert", "--model", str(tiny_pt), "--format",
                             "oop-hang", *TINY, "--out", str(out)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    try:
        pids = wait_for_file(pid_file, proc)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=GRACE_S + 30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert took < GRACE_S + SLACK_S + 2, took
    assert "Traceback" not in stderr, stderr
    assert wait_dead(pids.values()) == []
    assert snapshot(cwd) == before


def test_a_missing_program_is_named_before_any_work_and_in_the_format_table(oop_env, tiny, tmp_path):
    start = time.monotonic()
    with pytest.raises(MissingDependencyError, match="no-such-compiler-x7 on PATH: install it from https://example"):
        tiny.export("oop-needs-compiler", imgsz=64, out=tmp_path / "out")
    assert time.monotonic() - start < 2  # refused before tracing
    assert list(tmp_path.iterdir()) == []
    rows = {r["argument"]: r for r in json.loads(run_cli("formats", "--json", env=ENV).stdout)}
    assert rows["oop-needs-compiler"]["available"] is True  # its artifacts would run here
    assert rows["oop-needs-compiler"]["exportable"] is False
    assert "no-such-compiler-x7" in rows["oop-needs-compiler"]["export_why_not"]
    assert rows["oop-ok"]["exportable"] is True and rows["onnx"]["exportable"] is True
