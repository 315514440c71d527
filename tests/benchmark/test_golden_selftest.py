"""Golden vectors: written at export, recorded in the manifest, checked by `poseexport selftest`
on a device without torch; a doctored vector or a missing one fails with a clear message."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from poseexport import PoseModel
from poseexport.cli.main import main as cli_main
from poseexport.export.golden import GOLDEN_FILE

BLOCK_TORCH = "import sys; sys.modules['torch'] = None; "  # any `import torch` now raises ImportError


@pytest.fixture(scope="module")
def artifact(data_dir, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("golden") / "onnx"
    return PoseModel("posenet-test.yaml").export("onnx", imgsz=64, out=out, log=lambda *_: None).path


def copy_of(artifact, tmp_path):
    folder = tmp_path / "artifact"
    shutil.copytree(artifact, folder)
    return folder


def test_golden_vector_recorded_small_and_pickle_free(artifact):
    manifest = json.loads((artifact / "manifest.json").read_text())
    entry = manifest["golden"]
    assert entry["file"] == GOLDEN_FILE and GOLDEN_FILE in manifest["files"]
    # the export's own validation set: the five photos poseexport ships, so selftest reproduces its verdict
    assert entry["images"] == [f"poseexport/reference_images/coco_val2017_{i:012d}.jpg"
                               for i in (785, 183709, 214753, 229358, 397133)]
    assert entry["kind"] == "raw" and entry["tolerance"]["kpt_px"] == 0.05  # the fp32 tolerance
    assert (artifact / GOLDEN_FILE).stat().st_size < 3e6
    with np.load(artifact / GOLDEN_FILE, allow_pickle=False) as data:
        assert data["input_uint8"].shape == (5, 3, 64, 64) and data["input_uint8"].dtype == np.uint8
        assert list(data["images"]) == entry["images"]
        out, anchors = data["output"], data["anchors"]
        assert out.shape == (5, 56, len(anchors)) and 0 < len(anchors) <= 84
        assert np.all(np.diff(anchors) > 0) and anchors[0] == 0  # sorted, includes the strided sample
        dets = data["detections"]
        assert dets.shape == (entry["persons"], 6 + 17 * 3) and len(data["detection_image"]) == len(dets)


def test_selftest_passes_without_torch(artifact):
    # `python -m poseexport selftest ARTIFACT`, with torch unimportable
    code = BLOCK_TORCH + (f"import runpy; sys.argv = ['poseexport', 'selftest', {str(artifact)!r}]; "
                          "runpy.run_module('poseexport', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "✓ keypoint max error" in proc.stdout and "✗" not in proc.stdout and "PASSED" in proc.stdout


def test_selftest_cli_passes(artifact, tmp_path, capsys):
    report = tmp_path / "selftest.json"
    assert cli_main(["selftest", str(artifact), "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["passed"] and data["format"] == "onnx"
    assert max(c["value"] for c in data["checks"] if c["name"] == "keypoint max error") < 1e-3
    assert "PASSED" in capsys.readouterr().out


def test_selftest_fails_on_a_doctored_vector(artifact, tmp_path, capsys):
    folder = copy_of(artifact, tmp_path)
    with np.load(folder / GOLDEN_FILE, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["output"][:, 5:, :] += 3.0  # every keypoint channel 3 px off: what a broken runtime would give
    np.savez_compressed(folder / GOLDEN_FILE, **arrays)
    assert cli_main(["selftest", str(folder)]) == 2  # the manifest's digest no longer matches
    assert f"{GOLDEN_FILE} was modified" in capsys.readouterr().err
    assert cli_main(["selftest", str(folder), "--no-verify"]) == 1  # and the check itself catches it
    out = capsys.readouterr().out
    assert "✗ keypoint max error" in out and "FAILED" in out


def test_selftest_without_golden_vector_is_a_clear_error(artifact, tmp_path, capsys):
    folder = copy_of(artifact, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["golden"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert cli_main(["selftest", str(folder)]) == 2
    assert "carries no golden vector" in capsys.readouterr().err


def test_cli_selftest_imports_no_torch(artifact):
    code = BLOCK_TORCH + f"from poseexport.cli.main import main; sys.exit(main(['selftest', {str(artifact)!r}]))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_selftest_of_an_artifact_with_the_old_tolerance_keys(artifact, tmp_path, capsys):
    folder = copy_of(artifact, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["golden"]["tolerance"] = {"box_px": 0.05, "score": 1e-3, "kpt_px": 0.05, "matched_kpt_px": 0.05,
                                       "score_drift": 2e-3, "min_match_ratio": 1.0}  # before per-person limits
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = tmp_path / "selftest.json"
    assert cli_main(["selftest", str(folder), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "predates this poseexport" in out and "✓ persons invented" in out
    limits = {c["name"]: c["limit"] for c in json.loads(report.read_text())["checks"]}
    assert limits["persons missed"] == 0 and limits["matched keypoint p95 error"] == 0.1  # fp32 defaults
