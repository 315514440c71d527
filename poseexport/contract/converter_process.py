"""Run a converter in its own process: files in, files out, a time limit, nothing left running.

For a backend whose toolchain must not load into the torch process (TensorFlow, Paddle after
TensorFlow, MNN's converter that runs pip, a compiler binary). The backend's `export` does:

    request = converter_inputs(ctx, source, out_dir, options={"quantize": True})
    result = run_converter("my_package.my_convert:convert", request, ctx.work_dir,
                           title="The MNN converter", timeout_s=self.converter_timeout_s())
    model = Path(result["model"])

and `my_package/my_convert.py` holds `def convert(request: dict) -> dict`, which runs in a
fresh interpreter (`python -m poseexport.contract.converter_worker`): it reads its inputs from
the paths in `request` (`read_metadata`, `read_calibration` below), writes into
`request["out_dir"]`, and returns a JSON-serialisable dict (paths as strings). It must not
import torch; the backend module it lives in is imported in the child too, so keep that light.

`python=` runs the converter under another interpreter: a toolchain that cannot share
poseexport's environment (tensorflowjs pins an old TensorFlow and NumPy) lives in a venv of its
own, and the converter is that venv's python. poseexport is not installed there: the child
imports `poseexport` and the packages on the way to `target` from this installation's folders
(`package_dirs`: exactly those packages, nothing else of this environment), and everything
else (numpy, the toolchain) from its own environment. It needs numpy and a Python that runs
this code (3.10+).

What the helper guarantees:
- Inputs cross as files (the source artifact's main file, metadata JSON, calibration `.npy`,
  plain options), written into a fresh folder under `work_dir`; never live Python objects.
- The child leads its own process group. On timeout, Ctrl-C, SIGTERM or any error while
  waiting, the whole group (the converter and everything it started) gets SIGTERM, then
  SIGKILL after GRACE_S; the child is reaped before the error is raised. The child also kills
  its group if the parent dies without doing so (SIGKILL): see converter_worker.
- A clean environment (`converter_env`): no index for pip, proxies pointed at a closed local
  port (so pip, requests and urllib cannot reach a network; a program that opens raw sockets
  is not stopped by this), no user site-packages, and only the variables a converter needs.
- Its working directory is the run folder, so files a converter drops in its cwd go there.
- stdout and stderr go to files in the run folder (no pipe that can fill up and deadlock); a
  failure raises ExportFailedError naming the converter, the exit status, signal or timeout,
  with the last TAIL_LINES lines of its stderr (stdout when stderr is empty).
The run folder lives under `work_dir`, which the export pipeline deletes, success or failure.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from poseexport.errors import ExportFailedError, UnsupportedOptionError
from poseexport.metadata import Metadata

WORKER_MODULE = "poseexport.contract.converter_worker"
REQUEST_FILE, RESULT_FILE, ERROR_FILE = "request.json", "result.json", "error.txt"
STDOUT_FILE, STDERR_FILE = "stdout.txt", "stderr.txt"
GRACE_S = 2.0  # after SIGTERM to the group, before SIGKILL
TAIL_LINES = 20  # lines of the converter's output kept in the error
LINE_CHARS = 300  # a longer line is cut (one progress bar can be megabytes)
TIMEOUT_ENV = "POSEEXPORT_CONVERT_TIMEOUT_S"  # the user's override of a backend's timeout
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
# variables a converter may need from the parent; everything else is dropped
KEEP_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
            "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
            "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
            "SYSTEMROOT", "COMSPEC", "PATHEXT", "WINDIR")  # the last four: Python on Windows needs them
KEEP_ENV_PREFIXES = ("POSEEXPORT_", "LC_")
PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY")

_log = logging.getLogger(__name__)


def run_converter(target: str, request: Mapping[str, Any], work_dir: Path, *, title: str, timeout_s: float,
                  env: Mapping[str, str] | None = None, log: Callable[[str], None] | None = None,
                  python: str | os.PathLike | None = None) -> dict:
    """Call `target` ("package.module:function") with `request` in a child process; return its dict.

    `title` names the converter in messages ("The MNN converter"); `env` adds variables to the
    clean environment (e.g. {"TF_CPP_MIN_LOG_LEVEL": "2"}); `log` receives the converter's
    stderr lines after a success (default: this module's logger at debug level); `python` is
    the interpreter of the child (default: this one), see the module docstring.
    Raises ExportFailedError when the converter fails, dies, runs past `timeout_s`, or its
    interpreter cannot be started.
    """
    module, _, function = target.partition(":")
    if not module or not function:
        raise ValueError(f"converter target {target!r} must read 'package.module:function'")
    run_dir = Path(tempfile.mkdtemp(prefix="converter-", dir=work_dir))
    request_path = run_dir / REQUEST_FILE
    spec = {"target": target, "request": dict(request), "result": str(run_dir / RESULT_FILE),
            "error": str(run_dir / ERROR_FILE), "parent_pid": os.getpid()}
    if python is not None:
        spec["package_dirs"] = package_dirs(module)
    request_path.write_text(json.dumps(spec, indent=2))  # a TypeError here: the request is not plain data
    interpreter = sys.executable if python is None else str(python)
    # another interpreter has no poseexport installed: it runs the worker file as a script
    worker = ["-m", WORKER_MODULE] if python is None else [str(Path(__file__).with_name("converter_worker.py"))]
    start = time.monotonic()
    with open(run_dir / STDOUT_FILE, "wb") as out, open(run_dir / STDERR_FILE, "wb") as err:
        try:
            proc = subprocess.Popen([interpreter, *worker, str(request_path)], cwd=run_dir,
                                    env=converter_env(env), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    **_own_group())
        except OSError as exc:  # no such interpreter, or not executable
            raise ExportFailedError(f"{title} could not be started",
                                    f"its Python {interpreter} cannot be run ({exc.strerror or exc})",
                                    "make the environment it runs in (the format's documentation names the "
                                    "command), or point the format at an existing one") from None
        try:
            with _sigterm_raises():
                code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            raise ExportFailedError(
                f"{title} timed out after {timeout_s:g} s", "it was stopped, with every process it started",
                f"a large model on a slow machine may need more time: set {TIMEOUT_ENV}=SECONDS; otherwise "
                "report it with the output below", _tail_context(run_dir)) from None
        except BaseException:  # Ctrl-C, SIGTERM, anything: the converter must not outlive us
            stop_group(proc)
            raise
        finally:
            _kill_leftovers(proc)  # helpers a converter left running after it exited
    _log.debug("%s finished in %.1f s", title, time.monotonic() - start)
    if code != 0:
        raised = _read_text(run_dir / ERROR_FILE)
        why = f"it raised {raised} (exit status {code})" if raised else f"its process {describe_exit(code)}"
        raise ExportFailedError(f"{title} failed", why,
                                "see the converter's output below; try another precision or option, or report it",
                                _tail_context(run_dir))
    result = _read_result(run_dir / RESULT_FILE, title, run_dir)
    for line in _tail(run_dir / STDERR_FILE, lines=None):
        (log or _log.debug)(line)
    return result


def package_dirs(module: str) -> dict[str, list[str]]:
    """The folders of `poseexport` and of every package on the way to `module` ("a.b.c" -> a, a.b),
    as this interpreter finds them: what a foreign interpreter needs to import the worker and the
    converter (an editable install maps poseexport.backends to another folder than poseexport/)."""
    import importlib.util

    names = ["poseexport"]
    parts = module.split(".")
    names += [".".join(parts[:i]) for i in range(1, len(parts))]
    dirs = {}
    for name in dict.fromkeys(names):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"converter package {name!r} is not an importable package here")
        dirs[name] = [str(Path(d).resolve()) for d in spec.submodule_search_locations]
    return dirs


def converter_inputs(ctx: Any, source: Any, out_dir: Path, options: Mapping[str, Any] | None = None) -> dict:
    """The request of one export, its inputs written as files into a fresh folder of ctx.work_dir:
    source (the upstream artifact's main file) and source_dir, out_dir, metadata (JSON path),
    calibration (.npy path, or None when the export is not calibrated), stem (the file name
    the artifact's main file should get, without suffix) and options (plain values)."""
    folder = Path(tempfile.mkdtemp(prefix="converter-inputs-", dir=ctx.work_dir))
    calibration = getattr(ctx, "calibration", None)
    return {
        "source": str(Path(source.main_file).resolve()),
        "source_dir": str(Path(source.path).resolve()),
        "out_dir": str(Path(out_dir).resolve()),
        "metadata": str(write_metadata(ctx.metadata, folder / "metadata.json")),
        "calibration": str(write_calibration(calibration.images, folder / "calibration.npy"))
        if calibration is not None else None,
        "stem": ctx.traced.facts.arch,
        "options": dict(options or {}),
    }


def write_metadata(metadata: Metadata, path: Path) -> Path:
    path.write_text(metadata.to_json())
    return path


def write_calibration(images: np.ndarray, path: Path) -> Path:
    """Calibration images (float32 NCHW RGB [0, 1], as ExportContext.calibration.images) as .npy."""
    np.save(path, np.ascontiguousarray(images, dtype=np.float32), allow_pickle=False)
    return path


def read_metadata(request: Mapping[str, Any]) -> Metadata:
    """In the converter: the metadata of the artifact being written."""
    return Metadata.from_json(Path(request["metadata"]).read_text())


def read_calibration(request: Mapping[str, Any]) -> np.ndarray | None:
    """In the converter: the calibration images (float32 NCHW), or None when there are none.
    Memory-mapped: 211 images at 640 px are 1 GB, read only as the converter walks them."""
    if not request.get("calibration"):
        return None
    images = np.load(request["calibration"], mmap_mode="r", allow_pickle=False)
    if images.dtype != np.float32 or images.ndim != 4:
        raise ValueError(f"calibration file {request['calibration']} holds {images.dtype} {images.shape}, "
                         "not float32 NCHW images")
    return images


def converter_timeout_s(default: float) -> float:
    """The backend's timeout, or the user's POSEEXPORT_CONVERT_TIMEOUT_S when set."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UnsupportedOptionError(f"{TIMEOUT_ENV}={text} is not a time limit",
                                     "it must be a positive number of seconds",
                                     f"set it to e.g. {default:g}, or unset it for the backend's default")
    return value


def converter_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a converter: the few parent variables it needs, no network, no pip index."""
    env = {k: v for k, v in os.environ.items() if k in KEEP_ENV or k.startswith(KEEP_ENV_PREFIXES)}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1",
               PYTHONUNBUFFERED="1",  # its last lines reach the file even when it dies
               PYTHONFAULTHANDLER="1",  # a segfault prints the Python stack into the tail
               NO_PROXY="", no_proxy="")
    for name in PROXY_ENV:
        env[name] = env[name.lower()] = DEAD_PROXY
    env.update(extra or {})
    return env


def describe_exit(code: int) -> str:
    """'exited with status 3' or 'was killed by SIGABRT' (a negative code is the signal)."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"was killed by {name}"


def end_child(proc: subprocess.Popen, timeout_s: float) -> None:
    """Close a runner child's stdin (it exits when its input ends); kill it if it has not within
    `timeout_s`; reap it either way."""
    try:
        proc.stdin.close()
        proc.wait(timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's whole group, SIGKILL after GRACE_S, then reap the child.
    Ctrl-C and SIGTERM are ignored meanwhile: a second Ctrl-C must not leave it half-stopped."""
    with _signals_ignored():
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
        proc.wait()


def _kill_leftovers(proc: subprocess.Popen) -> None:
    """SIGKILL whatever is still in the child's group once the child has exited. Its group id
    cannot be reused by another process while any member lives, so this reaches only ours."""
    if proc.returncode is not None:
        _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))


def _own_group() -> dict:
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}  # type: ignore[attr-defined]


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        elif proc.returncode is None:
            proc.kill()  # Windows: no process groups to signal; the converter itself only
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While waiting, SIGTERM (a default handler would end us at once, leaving the converter
    running) raises SystemExit, so the group is stopped and the pipeline cleans up."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = [getattr(signal, n) for n in ("SIGINT", "SIGTERM") if hasattr(signal, n)]
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _read_result(path: Path, title: str, run_dir: Path) -> dict:
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ExportFailedError(f"{title} exited without a result",
                                f"its process exited with status 0 but {RESULT_FILE} is missing or unreadable ({err})",
                                "report it with the output below", _tail_context(run_dir)) from None
    if not isinstance(result, dict):
        raise ExportFailedError(f"{title} returned {type(result).__name__}, not a dict",
                                "a converter function must return a JSON object", "fix the converter")
    return result


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _tail_context(run_dir: Path) -> list[str]:
    for name in (STDERR_FILE, STDOUT_FILE):
        lines = _tail(run_dir / name)
        if lines:
            stream = name.partition(".")[0]
            return [f"last {len(lines)} lines of its {stream}:", *(f"| {line}" for line in lines)]
    return ["it wrote nothing to stderr or stdout"]


def _tail(path: Path, lines: int | None = TAIL_LINES) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return []
    # carriage returns: a progress bar rewrites one line; keep what it showed last
    kept = [line.rstrip("\r").rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    kept = [line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " ..." for line in kept if line.strip()]
    return kept if lines is None else kept[-lines:]
