"""run_converter(python=...): a converter under another interpreter (a toolchain's own venv,
as TF.js needs), where poseexport is not installed. The interpreter here is a bare venv made
for the test, with numpy only (linked in through a .pth file): no torch, no onnx, no poseexport."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import poseexport
from poseexport.contract.converter_process import package_dirs, run_converter
from poseexport.errors import ExportFailedError

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bare-venv")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    linked = root / "numpy-only"
    linked.mkdir()
    numpy_dir = Path(np.__file__).resolve().parent
    for sibling in (numpy_dir, numpy_dir.with_name("numpy.libs")):
        if sibling.exists():
            (linked / sibling.name).symlink_to(sibling, target_is_directory=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "numpy_only.pth").write_text(str(linked) + "\n")
    return python


@pytest.fixture
def doubles_on_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))


def test_converter_runs_under_the_given_interpreter(bare_python, doubles_on_path, tmp_path):
    got = run_converter("foreign_python_doubles:convert_where", {"n": 3}, tmp_path, title="The probe",
                        timeout_s=60, python=bare_python)
    assert Path(got["executable"]).parent == bare_python.parent  # not this interpreter
    assert Path(got["prefix"]).resolve() == bare_python.parent.parent.resolve()
    assert Path(got["prefix"]).resolve() != Path(sys.prefix).resolve()
    # poseexport from this installation's folder, nothing else of this environment
    assert Path(got["poseexport"]).resolve() == Path(poseexport.__file__).resolve()
    assert got["torch_found"] is False and got["onnx_found"] is False
    assert got["environ"] == {"PIP_NO_INDEX": "1", "HTTPS_PROXY": "http://127.0.0.1:9", "PYTHONNOUSERSITE": "1"}
    assert got["request"] == {"n": 3}


def test_package_dirs_name_the_packages_on_the_way():
    """What a foreign interpreter is told: poseexport and each package above the converter."""
    dirs = package_dirs("poseexport.backends.tfjs_convert")
    assert set(dirs) == {"poseexport", "poseexport.backends"}
    assert Path(dirs["poseexport"][0]) == Path(poseexport.__file__).resolve().parent
    assert (Path(dirs["poseexport.backends"][0]) / "__init__.py").is_file()
    assert set(package_dirs("foreign_python_doubles")) == {"poseexport"}


def test_failure_under_another_interpreter_is_reported(bare_python, doubles_on_path, tmp_path):
    with pytest.raises(ExportFailedError, match="failed on purpose") as err:
        run_converter("foreign_python_doubles:convert_raise", {}, tmp_path, title="The foreign converter",
                      timeout_s=60, python=bare_python)
    assert "The foreign converter failed" in str(err.value)


def test_missing_interpreter_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-env" / "bin" / "python"
    with pytest.raises(ExportFailedError, match="could not be started") as err:
        run_converter("foreign_python_doubles:convert_where", {}, tmp_path, title="The TF.js converter",
                      timeout_s=60, python=missing)
    assert str(missing) in str(err.value)


def test_worker_script_does_not_shadow_modules(bare_python, doubles_on_path, tmp_path):
    """Run as a script, the worker's folder (poseexport/contract: tensors.py, backend.py, ...)
    is taken off sys.path: a toolchain's own module of such a name is not shadowed."""
    got = run_converter("foreign_python_doubles:convert_where", {}, tmp_path, title="x", timeout_s=60,
                        python=bare_python)
    assert got["tensors_found"] is False
