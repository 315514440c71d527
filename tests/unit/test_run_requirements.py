"""Run requirements (poseexport/contract/requirements.py, versions.py): the version comparator,
what each built-in backend records, and every kind of unmet requirement named with its fix."""
from __future__ import annotations

import json
from dataclasses import asdict
from importlib import metadata as importlib_metadata

import pytest

from poseexport.contract.registry import get_backend
from poseexport.contract.requirements import (
    Machine,
    check_requirements,
    os_name,
    requirements_of,
    unmet,
)
from poseexport.contract.versions import compare, installed_version, satisfies
from poseexport.errors import BadArtifactError, RequirementsNotMetError
from poseexport.metadata import Metadata, Requirements

LINUX_CPU = Machine(os="linux", devices=("cpu",))
ANYWHERE = ("linux", "darwin", "windows")


@pytest.mark.parametrize("a, b, expected", [
    ("1.32.0", "1.20", 1), ("1.20", "1.20.0", 0), ("1.9", "1.10", -1), ("2.13.0+cpu", "2.13.0", 0),
    ("1.20.0rc1", "1.20.0", -1), ("1.20.0rc1", "1.19.9", 1), ("2.1.0.dev3", "2.1", -1), ("2026.4.1", "2025.9", 1),
])
def test_compare(a, b, expected):
    assert compare(a, b) == expected


@pytest.mark.parametrize("version, spec, ok", [
    ("1.32.0", ">=1.20", True), ("1.19.2", ">=1.20", False), ("1.32.0", ">=1.20,<1.30", False),
    ("1.25", ">=1.20, <1.30", True), ("1.20", ">1.20", False), ("1.20", "==1.20.0", True), ("1.20", "!=1.20", False),
    ("0.1", "", True), ("1.20.0rc1", ">=1.20", False), ("2.13.0+cu121", "<=2.13", True),
])
def test_satisfies(version, spec, ok):
    assert satisfies(version, spec) is ok


@pytest.mark.parametrize("spec", ["~=1.2", ">=", "1.2", ">=one"])
def test_a_range_it_cannot_read_is_refused(spec):
    with pytest.raises(ValueError):
        satisfies("1.0", spec)


def test_installed_version_reads_package_metadata():
    assert installed_version("numpy") == importlib_metadata.version("numpy")
    assert installed_version("poseexport-no-such-runtime") is None


def test_os_names():
    assert [os_name(p) for p in ("linux", "darwin", "win32", "cygwin")] == ["linux", "darwin", "windows", "windows"]


def test_built_in_backends_record_the_runtime_they_were_built_with():
    onnx = requirements_of(get_backend("onnx"))
    assert onnx.os == ANYWHERE and onnx.devices == ("cpu", "cuda")
    assert onnx.packages == {"onnxruntime": ">=" + importlib_metadata.version("onnxruntime")}
    torchscript = requirements_of(get_backend("torchscript"))
    assert torchscript.devices == ("cpu", "cuda")
    assert torchscript.packages == {"torch": ">=" + importlib_metadata.version("torch").split("+")[0]}


def test_requirements_round_trip_and_older_metadata_has_none(tmp_path):
    from poseexport.metadata import metadata_from_dict

    req = Requirements(os=("darwin",), devices=("cpu",), packages={"coremltools": ">=8"})
    raw = {"format": "x", "precision": {"name": "fp32"}, "inputs": [], "outputs": [], "toolchain": {},
           "model": {"task": "pose", "names": {"0": "person"}, "kpt_shape": [17, 3], "keypoint_names": [],
                     "skeleton": [], "flip_idx": [], "stride": 32, "imgsz": [64, 64], "arch": "a"}}
    assert metadata_from_dict(raw).requirements is None  # an artifact from before the field
    meta = metadata_from_dict({**raw, "requirements": json.loads(json.dumps(asdict(req)))})
    assert meta.requirements == req
    assert Metadata.from_json(meta.to_json()).requirements == req


def test_every_unmet_requirement_is_named_with_its_fix():
    req = Requirements(os=("darwin",), devices=("cuda",),
                       packages={"numpy": ">=999", "poseexport-no-such-runtime": ">=1.0"})
    found = {(p.need, p.have, p.fix) for p in unmet(req, machine=LINUX_CPU)}
    numpy_version = importlib_metadata.version("numpy")
    assert found == {
        ("macOS", "runs Linux", "run it on macOS"),
        ("a CUDA GPU", "has CPU only", "run it on a machine with a CUDA GPU"),
        ("numpy>=999", f"has numpy {numpy_version}", "pip install 'numpy>=999'"),
        ("poseexport-no-such-runtime>=1.0", "has no poseexport-no-such-runtime installed",
         "pip install 'poseexport-no-such-runtime>=1.0'"),
    }


def test_the_asked_device_must_be_one_the_artifact_uses():
    req = Requirements(os=ANYWHERE, devices=("cpu",), packages={})
    gpu_box = Machine(os="linux", devices=("cpu", "cuda"))
    assert [(p.need, p.fix) for p in unmet(req, "cuda:1", gpu_box)] == [("a CPU", "pass --device cpu")]
    assert unmet(req, "cpu", gpu_box) == [] and unmet(req, None, gpu_box) == []
    # an artifact for CPU or CUDA asked for cuda on a CPU box: the runtime's own check names the GPU problem
    both = Requirements(os=ANYWHERE, devices=("cpu", "cuda"), packages={})
    assert unmet(both, "cuda:0", LINUX_CPU) == []


def test_check_requirements_raises_one_error_with_context(monkeypatch):
    from poseexport.contract import requirements as module

    monkeypatch.setattr(module, "this_machine", lambda: LINUX_CPU)
    req = Requirements(os=("windows",), devices=("cpu",), packages={"numpy": "<1"})
    with pytest.raises(RequirementsNotMetError) as err:
        check_requirements(req, "model.onnx")
    text = str(err.value)
    assert text.startswith("Model.onnx cannot run on this machine. It needs Windows, and this machine runs Linux; "
                           "it needs numpy<1, and this machine has numpy")
    assert "Run it on Windows; pip install 'numpy<1'." in text
    assert "the artifact needs: Windows; CPU; numpy<1" in text and "this machine: Linux, CPU" in text
    check_requirements(None, "old.onnx")  # an artifact from before requirements: nothing to check
    check_requirements(Requirements(os=("linux",), devices=("cpu",), packages={"numpy": ">=1"}), "ok.onnx")


def test_an_unreadable_range_in_an_artifact_is_a_bad_artifact():
    with pytest.raises(BadArtifactError, match="requirement 'numpy~=2' cannot be read"):
        unmet(Requirements(os=ANYWHERE, devices=("cpu",), packages={"numpy": "~=2"}), machine=LINUX_CPU)
