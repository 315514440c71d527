"""Export here, run there: a backend whose runtime cannot run on this machine still exports, its
validation is recorded as deferred (golden vector shipped), `load` here names what it needs, and
`poseexport selftest` on the target (this machine, told it is the target) gives the verdict.

The backend is tests/backends/elsewhere_double.py: an ONNX copy declared to run only on another
OS, run by ONNX Runtime itself, on the tiny test network.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from elsewhere_double import TARGET_OS

import poseexport
from poseexport import PoseModel
from poseexport.cli.main import main as cli_main
from poseexport.contract import requirements
from poseexport.errors import RequirementsNotMetError
from poseexport.export.golden import GOLDEN_FILE
from poseexport.metadata import Metadata

pytest.importorskip("onnxruntime")

HERE = Path(__file__).resolve().parent
REGISTRATION = "elsewhere=elsewhere_double:ElsewhereBackend"
TARGET_TITLE = requirements.OS_TITLES[TARGET_OS]
HERE_TITLE = requirements.OS_TITLES.get(requirements.this_machine().os)


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setenv("POSEEXPORT_EXTRA_BACKENDS", REGISTRATION)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The tiny network exported as 'elsewhere' in this process: (folder, what export printed)."""
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEEXPORT_EXTRA_BACKENDS", REGISTRATION)
        torch.manual_seed(0)
        out = tmp_path_factory.mktemp("elsewhere") / "posenet-test_elsewhere"
        artifact = PoseModel("posenet-test").export("elsewhere", imgsz=64, out=out, log=lines.append)
    return artifact.path, "\n".join(lines)


@pytest.fixture
def on_target(monkeypatch):
    """This process believes it runs on the artifact's OS (what `this_machine` reports)."""
    machine = requirements.Machine(os=TARGET_OS, devices=("cpu",))
    monkeypatch.setattr(requirements, "this_machine", lambda: machine)
    return machine


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_export_records_deferred_validation_and_ships_the_golden_vector(exported):
    folder, printed = exported
    meta = Metadata.from_json((folder / "metadata.json").read_text())
    assert meta.format == "elsewhere"
    assert meta.validation["status"] == "deferred" and meta.validation["passed"] is None
    assert f"needs {TARGET_TITLE}" in meta.validation["reason"] and f"runs {HERE_TITLE}" in meta.validation["reason"]
    req = json.loads((folder / "metadata.json").read_text())["requirements"]
    assert req == {"os": [TARGET_OS], "devices": ["cpu"], "packages": {"onnxruntime": ">=1.20"}}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["golden"]["file"] == GOLDEN_FILE and (folder / GOLDEN_FILE).is_file()
    with np.load(folder / GOLDEN_FILE, allow_pickle=False) as data:
        assert data["input_uint8"].shape == (5, 3, 64, 64) and data["output"].shape[:2] == (5, 56)
    assert f"validation (fp32): deferred: needs {TARGET_TITLE}" in printed
    assert f"poseexport selftest {folder}" in printed
    # the upstream ONNX runs here and is validated; the artifact itself is never said to pass
    assert "upstream onnx fp32: validated" in printed
    assert not [line for line in printed.splitlines() if "PASSED" in line and not line.startswith("upstream")]


def test_the_model_file_carries_the_requirements_too(exported):
    import onnx

    folder, _ = exported
    model = onnx.load(str(folder / "posenet-test.onnx"), load_external_data=False)
    embedded = Metadata.from_json(next(p.value for p in model.metadata_props if p.key == "poseexport"))
    assert embedded.requirements.os == (TARGET_OS,) and embedded.requirements.packages == {"onnxruntime": ">=1.20"}


def test_cli_export_exits_0_with_the_selftest_line(tmp_path):
    # a seeded network: an unseeded random one can have near-tied anchors that NMS orders
    # differently in ONNX and PyTorch, failing the upstream ONNX's validation by chance
    import torch

    from poseexport import PoseModel

    torch.manual_seed(0)
    PoseModel("posenet-test").save(tmp_path / "tiny.pt")
    out = tmp_path / "artifact"
    env = {**os.environ, "POSEEXPORT_OFFLINE": "1", "POSEEXPORT_EXTRA_BACKENDS": REGISTRATION,
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "poseexport", "convert", "--model", str(tmp_path / "tiny.pt"),
                           "--format", "elsewhere", "--imgsz", "64", "--out", str(out)], capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert f"deferred: needs {TARGET_TITLE}" in proc.stderr and f"poseexport selftest {out.resolve()}" in proc.stderr
    assert not [line for line in (proc.stdout + proc.stderr).splitlines()
                if "PASSED" in line and not line.startswith("upstream")]
    assert json.loads((out / "metadata.json").read_text())["validation"]["status"] == "deferred"


def test_load_here_names_what_the_artifact_needs(exported, tmp_path):
    folder, _ = exported
    with pytest.raises(RequirementsNotMetError) as err:
        poseexport.load(folder)
    text = str(err.value)
    assert f"{folder} cannot run on this machine" in text
    assert f"It needs {TARGET_TITLE}, and this machine runs {HERE_TITLE}. Run it on {TARGET_TITLE}." in text
    assert "the artifact needs: " in text and "onnxruntime>=1.20" in text
    bare = tmp_path / "best.onnx"  # the model file copied out of its folder carries them as well
    shutil.copyfile(folder / "posenet-test.onnx", bare)
    with pytest.raises(RequirementsNotMetError, match=f"needs {TARGET_TITLE}"):
        poseexport.load(bare)


def test_selftest_here_is_a_clear_error(exported, capsys):
    folder, _ = exported
    assert cli_main(["selftest", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"cannot run on this machine. It needs {TARGET_TITLE}" in err and "Traceback" not in err


def test_selftest_on_the_target_gives_the_verdict(exported, on_target, tmp_path, capsys):
    folder, _ = exported
    before = digests(folder)
    report = tmp_path / "selftest.json"
    assert cli_main(["selftest", str(folder), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "validation was deferred at export" in out and "PASSED" in out and "✗" not in out
    data = json.loads(report.read_text())
    assert data["passed"] and data["validation_at_export"] == "deferred" and data["format"] == "elsewhere"
    assert max(c["value"] for c in data["checks"] if c["name"] == "keypoint max error") < 1e-3
    assert digests(folder) == before  # the verdict is printed, the artifact is not rewritten
    with poseexport.load(folder) as runner:  # and on the target it simply loads
        assert runner.metadata.format == "elsewhere"


def test_selftest_on_the_target_fails_a_broken_copy(exported, on_target, tmp_path, capsys):
    folder, _ = exported
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    with np.load(broken / GOLDEN_FILE, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["output"][:, 5:, :] += 3.0  # every keypoint 3 px away from what the runtime gives
    np.savez_compressed(broken / GOLDEN_FILE, **arrays)
    assert cli_main(["selftest", str(broken), "--no-verify"]) == 1
    out = capsys.readouterr().out
    assert "✗ keypoint max error" in out and "FAILED" in out


def test_a_device_the_artifact_does_not_use_is_named(exported, on_target):
    folder, _ = exported
    with pytest.raises(RequirementsNotMetError, match="was asked to run it on cuda:0. Pass --device cpu"):
        poseexport.load(folder, device="cuda:0")
