"""Bad inputs around the output folder and the artifact's manifest: nothing of the user's is
deleted, nothing is written after a refusal, an interrupted export leaves the previous state,
and an artifact whose files changed is refused by every command that loads it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from cli_harness import CliResult, assert_clean_failure, run_cli, snapshot

from poseexport import PoseModel

HELPERS = Path(__file__).resolve().parent.parent / "export"  # interrupting backends, launcher
EXTRA = ("onnx_ctrl_c_convert=interrupting_backends:InterruptWhileConverting,"
         "onnx_ctrl_c_validate=interrupting_backends:InterruptWhileValidating,"
         "onnx_crash=interrupting_backends:CrashWhileConverting")
HELPER_ENV = {"PYTHONPATH": os.pathsep.join(filter(None, [str(HELPERS), os.environ.get("PYTHONPATH")])),
              "POSEEXPORT_EXTRA_BACKENDS": EXTRA}
TINY = ("--imgsz", "64")


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory) -> Path:
    """The tiny network with fixed weights (seed 0: its export passes validation)."""
    torch.manual_seed(0)
    return PoseModel("posenet-test").save(tmp_path_factory.mktemp("tiny-pt") / "tiny.pt")


@pytest.fixture
def artifact(tiny_artifact, tmp_path) -> Path:
    folder = tmp_path / "art"
    shutil.copytree(tiny_artifact, folder)
    return folder


def model_file(folder: Path) -> Path:
    return folder / json.loads((folder / "manifest.json").read_text())["main"]


def work_folders(parent: Path) -> list[Path]:
    return sorted(parent.glob(".poseexport-work-*"))


def convert(tiny_pt: Path, out: Path, *extra: str, env: dict | None = None) -> CliResult:
    return run_cli("convert", "--model", tiny_pt, "--format", "onnx", *TINY, "--out", out, *extra, env=env)


# --- --out: refused before any work, nothing touched ---------------------------------------

def test_out_over_a_folder_of_user_files_deletes_nothing(tiny_pt, tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    (out / "notes").mkdir()
    (out / "notes" / "a.md").write_text("x")
    before = snapshot(tmp_path)
    start = time.perf_counter()
    result = convert(tiny_pt, out)
    assert_clean_failure(result, f"--out {out}", "did not write", "thesis.txt", "notes",
                         "nothing was touched", "choose another --out", "remove")
    assert time.perf_counter() - start < 30  # refused before tracing, not after an export
    assert snapshot(tmp_path) == before


def test_the_default_output_folder_follows_the_same_rule(tiny_pt, tmp_path):
    (tmp_path / "tiny_onnx").mkdir()  # ./<model>_<format>, the default --out, holds a user file
    (tmp_path / "tiny_onnx" / "thesis.txt").write_text("precious")
    before = snapshot(tmp_path)
    result = run_cli("convert", "--model", tiny_pt, "--format", "onnx", *TINY, cwd=tmp_path)
    assert_clean_failure(result, "the default --out", "thesis.txt", "did not write")
    assert snapshot(tmp_path) == before


def test_out_over_an_artifact_with_a_user_file_added_is_refused(tiny_pt, artifact, tmp_path):
    (artifact / "my-notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    result = convert(tiny_pt, artifact)
    assert_clean_failure(result, "not part of the artifact", "my-notes.txt", "not listed in its manifest.json",
                         "would delete")
    assert snapshot(tmp_path) == before


def test_out_over_an_edited_artifact_is_refused(tiny_pt, artifact, tmp_path):
    meta = artifact / "metadata.json"
    meta.write_text(meta.read_text().replace('"person"', '"human"'))
    before = snapshot(tmp_path)
    result = convert(tiny_pt, artifact)
    assert_clean_failure(result, "edited after export", "metadata.json was modified", "sha256 expected")
    assert snapshot(tmp_path) == before


def test_out_an_existing_file_is_refused(tiny_pt, tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"someone's file")
    before = snapshot(tmp_path)
    result = convert(tiny_pt, target)
    assert_clean_failure(result, f"--out {target}", "existing file, not a folder", "never overwrites")
    assert snapshot(tmp_path) == before


def test_out_under_a_file_is_refused(tiny_pt, tmp_path):
    # the parent cannot be created: as root, chmod does not stop writes, a file in the path does
    (tmp_path / "somefile.txt").write_text("x")
    before = snapshot(tmp_path)
    result = convert(tiny_pt, tmp_path / "somefile.txt" / "sub" / "art")
    assert_clean_failure(result, "cannot be created", "somefile.txt is a file, not a folder")
    assert snapshot(tmp_path) == before


@pytest.fixture
def immutable_folder(tmp_path):
    """A folder nobody can write into, root included (chattr +i; chmod does not stop root)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", folder]).returncode != 0:
        pytest.skip("chattr +i is not available here: an unwritable folder cannot be made as root")
    yield folder
    subprocess.run(["chattr", "-i", folder], check=True)


def test_out_in_an_unwritable_folder_is_refused(tiny_pt, immutable_folder, tmp_path):
    before = snapshot(tmp_path)
    result = convert(tiny_pt, immutable_folder / "art")
    assert_clean_failure(result, f"--out {immutable_folder / 'art'}", "not writable",
                         "a folder you can write to")
    assert snapshot(tmp_path) == before


def test_imgsz_100000_is_refused_with_the_estimate_before_tracing(tiny_pt, tmp_path):
    out = tmp_path / "new" / "art"
    start = time.perf_counter()
    result = convert(tiny_pt, out, "--imgsz", "100000")
    assert_clean_failure(result, "--imgsz 100000,100000 is too large", "GB of memory", "use a smaller --imgsz")
    assert time.perf_counter() - start < 30
    assert list(tmp_path.iterdir()) == []  # not even the parent folder was created


# --- replacing a previous artifact ---------------------------------------------------------

def test_reexport_over_a_previous_artifact_replaces_it(tiny_pt, artifact, tmp_path):
    old_digests = json.loads((artifact / "manifest.json").read_text())["files"]
    result = convert(tiny_pt, artifact)
    assert result.returncode == 0, result.output
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["main"] == "tiny.onnx" and manifest["files"] != old_digests  # the new export
    assert sorted(p.name for p in artifact.iterdir()) == ["golden.npz", "manifest.json", "metadata.json", "tiny.onnx"]
    assert json.loads((artifact / "metadata.json").read_text())["validation"]["status"] == "passed"
    assert work_folders(tmp_path) == []


def test_a_failed_reexport_keeps_the_previous_artifact(tiny_pt, artifact, tmp_path):
    before = snapshot(tmp_path)
    result = run_cli("convert", "--model", tiny_pt, "--format", "onnx_crash", *TINY, "--out", artifact,
                     env=HELPER_ENV)
    assert_clean_failure(result, "converter failed", "crashed (simulated")
    assert snapshot(tmp_path) == before


def test_no_validate_says_not_run_and_loading_warns(tiny_pt, tmp_path, data_dir):
    out = tmp_path / "unchecked"
    result = convert(tiny_pt, out, "--no-validate")
    assert result.returncode == 0, result.output
    validation = json.loads((out / "metadata.json").read_text())["validation"]
    assert validation["status"] == "not run" and "--no-validate" in validation["reason"]
    predicted = run_cli("predict", "--model", out, "--source", data_dir / "images" / "bus.jpg")
    assert predicted.returncode == 0, predicted.output
    assert "warning:" in predicted.stderr and "without validation" in predicted.stderr


# --- verified artifacts: every command that loads one refuses a changed file ---------------

def tamper_weight(onnx_path: Path) -> None:
    """Add 5 to the first element of the largest float initializer (a real weight edit)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = numpy_helper.to_array(init).copy()
    array.flat[0] += 5.0
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(model, str(onnx_path))


def loading_commands(folder: Path, data_dir: Path, tmp_path: Path) -> dict[str, tuple]:
    image = data_dir / "images" / "bus.jpg"
    return {"predict": ("predict", "--model", folder, "--source", image),
            "selftest": ("selftest", folder),
            "validate": ("validate", folder, "--reference", tmp_path / "missing-on-purpose.pt"),
            "val": ("val", "--model", folder, "--data", data_dir / "coco8-pose" / "coco8-pose.yaml")}


@pytest.mark.parametrize("command", ["predict", "selftest", "validate", "val"])
def test_a_tampered_weight_is_refused(command, artifact, data_dir, tmp_path):
    onnx_file = model_file(artifact)
    expected = json.loads((artifact / "manifest.json").read_text())["files"][onnx_file.name]
    tamper_weight(onnx_file)
    before = snapshot(tmp_path)
    result = run_cli(*loading_commands(artifact, data_dir, tmp_path)[command])
    assert_clean_failure(result, "not as poseexport wrote it", f"{onnx_file.name} was modified",
                         f"expected {expected[:12]}", "--no-verify")
    assert snapshot(tmp_path) == before


def test_a_tampered_model_file_asked_by_name_is_refused(artifact, data_dir):
    onnx_file = model_file(artifact)
    tamper_weight(onnx_file)
    result = run_cli("predict", "--model", onnx_file, "--source", data_dir / "images" / "bus.jpg")
    assert_clean_failure(result, f"{onnx_file.name} was modified")


@pytest.mark.parametrize("command", ["predict", "selftest"])
def test_tampered_metadata_is_refused(command, artifact, data_dir, tmp_path):
    meta = artifact / "metadata.json"
    meta.write_text(meta.read_text().replace('"person"', '"human"'))
    result = run_cli(*loading_commands(artifact, data_dir, tmp_path)[command])
    assert_clean_failure(result, "metadata.json was modified")


def test_a_deleted_file_is_refused(artifact, data_dir, tmp_path):
    (artifact / "golden.npz").unlink()
    result = run_cli("selftest", artifact)
    assert_clean_failure(result, "golden.npz is missing", "the manifest lists it")


def test_a_missing_manifest_is_refused(artifact, data_dir):
    (artifact / "manifest.json").unlink()
    result = run_cli("predict", "--model", artifact, "--source", data_dir / "images" / "bus.jpg")
    assert_clean_failure(result, "has metadata.json but no manifest.json", "incomplete")


def test_an_unreadable_manifest_is_refused(artifact, data_dir):
    (artifact / "manifest.json").write_text('{"main": "tiny.onnx", "files": ')
    result = run_cli("predict", "--model", artifact, "--source", data_dir / "images" / "bus.jpg")
    assert_clean_failure(result, "manifest.json cannot be read", "not a poseexport manifest")


def test_a_renamed_model_file_is_refused(artifact, data_dir):
    onnx_file = model_file(artifact)
    renamed = onnx_file.rename(artifact / "best.onnx")
    image = data_dir / "images" / "bus.jpg"
    by_folder = run_cli("predict", "--model", artifact, "--source", image)
    assert_clean_failure(by_folder, f"{onnx_file.name} is missing")
    by_file = run_cli("predict", "--model", renamed, "--source", image)
    assert_clean_failure(by_file, "best.onnx is not the model file", "not listed in the manifest",
                         "move it out of the artifact folder")


def test_an_extra_model_file_in_the_folder_is_refused(artifact, tiny_artifact, data_dir, tmp_path):
    extra = artifact / "other.onnx"
    shutil.copy(model_file(tiny_artifact), extra)
    tamper_weight(extra)
    result = run_cli("predict", "--model", extra, "--source", data_dir / "images" / "bus.jpg")
    assert_clean_failure(result, "other.onnx is not the model file", "not listed in the manifest")


def test_no_verify_loads_an_edited_artifact(artifact, data_dir):
    tamper_weight(model_file(artifact))
    image = data_dir / "images" / "bus.jpg"
    refused = run_cli("predict", "--model", artifact, "--source", image)
    assert_clean_failure(refused, "was modified")
    loaded = run_cli("predict", "--model", artifact, "--source", image, "--no-verify")
    assert loaded.returncode == 0, loaded.output
    assert "1 image(s)" in loaded.stderr and "person(s)" in loaded.stderr


def test_a_bare_model_file_outside_any_folder_still_loads(artifact, data_dir, tmp_path):
    bare = tmp_path / "elsewhere" / "best.onnx"
    bare.parent.mkdir()
    shutil.copy(model_file(artifact), bare)
    result = run_cli("predict", "--model", bare, "--source", data_dir / "images" / "bus.jpg")
    assert result.returncode == 0, result.output


# --- Ctrl-C at every stage of an export ----------------------------------------------------

def assert_interrupted(proc_returncode: int, output: str) -> None:
    assert proc_returncode == 130, output
    assert "Traceback" not in output, output
    assert "poseexport convert: interrupted" in output, output


def launch(stage: str, *args, timeout: float = 240) -> CliResult:
    proc = subprocess.run([sys.executable, str(HELPERS / "interrupt_launcher.py"), stage, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "POSEEXPORT_OFFLINE": "1", **HELPER_ENV})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize("stage", ["trace", "golden"])
def test_ctrl_c_while_tracing_or_writing_golden_keeps_the_previous_artifact(stage, tiny_pt, artifact, tmp_path):
    before = snapshot(tmp_path)
    result = launch(stage, "convert", "--model", tiny_pt, "--format", "onnx", *TINY, "--out", artifact)
    assert_interrupted(result.returncode, result.output)
    assert snapshot(tmp_path) == before  # previous artifact byte for byte, no work folder


def test_ctrl_c_while_tracing_a_new_output_leaves_nothing(tiny_pt, tmp_path):
    result = launch("trace", "convert", "--model", tiny_pt, "--format", "onnx", *TINY,
                    "--out", tmp_path / "new" / "deeper" / "art")
    assert_interrupted(result.returncode, result.output)
    assert list(tmp_path.iterdir()) == []  # the parents it made are gone too


@pytest.mark.parametrize("fmt", ["onnx_ctrl_c_convert", "onnx_ctrl_c_validate"])
def test_ctrl_c_while_converting_or_validating_keeps_the_previous_artifact(fmt, tiny_pt, artifact, tmp_path):
    before = snapshot(tmp_path)
    result = run_cli("convert", "--model", tiny_pt, "--format", fmt, *TINY, "--out", artifact, env=HELPER_ENV)
    assert_interrupted(result.returncode, result.output)
    assert snapshot(tmp_path) == before


def test_ctrl_c_during_the_final_rename_leaves_a_complete_new_artifact(tiny_pt, artifact, tmp_path):
    import poseexport

    old = json.loads((artifact / "manifest.json").read_text())["files"]
    result = launch("rename", "convert", "--model", tiny_pt, "--format", "onnx", *TINY, "--out", artifact)
    assert_interrupted(result.returncode, result.output)
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["files"] != old and manifest["main"] == "tiny.onnx"  # the new one, whole
    assert json.loads((artifact / "metadata.json").read_text())["validation"]["status"] == "passed"
    with poseexport.load(artifact) as runner:  # verified against its manifest
        assert runner.metadata.model.arch == "tiny"
    assert work_folders(tmp_path) == []


def test_ctrl_c_while_loading_calibration_images_keeps_the_previous_artifact(tiny_pt, artifact, data_dir,
                                                                             tmp_path):
    before = snapshot(tmp_path)
    result = launch("calibration", "convert", "--model", tiny_pt, "--format", "onnx", *TINY, "--int8",
                    "--data", data_dir / "images", "--force", "--out", artifact)
    assert_interrupted(result.returncode, result.output)
    assert snapshot(tmp_path) == before
