"""Broken artifacts through the real CLI: a truncated or renamed model file, metadata that
does not fit the model, bad JSON, folders that are not artifacts — each a BadArtifactError
that names the file or field, never a runtime traceback; nothing is changed on disk.

Artifact folders are opened with --no-verify here: the manifest check would refuse every one
of them first (tests/bad_inputs/test_out_and_manifest.py), and what is tested is that the
runtime's own open and the metadata checks hold without it (and for bare files)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cli_harness import assert_clean_failure, run_cli, snapshot

from poseexport import PoseModel
from poseexport.errors import PoseExportError


@pytest.fixture(scope="module")
def tiny_ts_ov(tmp_path_factory) -> dict[str, Path]:
    """TorchScript and OpenVINO artifacts of the tiny network (not validated: speed)."""
    pytest.importorskip("openvino")
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-ts-ov")
    model = PoseModel("posenet-test")
    return {fmt: model.export(fmt, imgsz=64, out=root / fmt, validate=False, golden=False,
                              log=lambda *_: None).path for fmt in ("torchscript", "openvino")}


def _copy(artifact: Path, tmp_path: Path) -> Path:
    copy = tmp_path / artifact.name
    shutil.copytree(artifact, copy)
    return copy


def _main_file(folder: Path) -> Path:
    return folder / json.loads((folder / "manifest.json").read_text())["main"]


def _predict(model, data_dir):
    return run_cli("predict", "--no-verify", "--model", model, "--source", data_dir / "images" / "bus.jpg")


def _edit_metadata(folder: Path, edit) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    edit(meta)
    (folder / "metadata.json").write_text(json.dumps(meta))


def test_truncated_onnx_file(tiny_artifact, tmp_path, data_dir):
    art = _copy(tiny_artifact, tmp_path)
    main = _main_file(art)
    main.write_bytes(main.read_bytes()[:1000])
    before = snapshot(art)
    assert_clean_failure(_predict(art, data_dir), "ONNX model file", main.name, "cannot be opened",
                         "truncated, corrupt")
    assert snapshot(art) == before


def test_truncated_onnx_in_selftest(tiny_artifact, tmp_path):
    art = _copy(tiny_artifact, tmp_path)
    main = _main_file(art)
    main.write_bytes(main.read_bytes()[:5000])
    assert_clean_failure(run_cli("selftest", "--no-verify", art), "cannot be opened", main.name)


def test_renamed_model_file(tiny_artifact, tmp_path, data_dir):
    art = _copy(tiny_artifact, tmp_path)
    main = _main_file(art)
    main.rename(art / "renamed.onnx")
    assert_clean_failure(_predict(art, data_dir), main.name, "is missing", "renamed.onnx")


@pytest.mark.parametrize("fmt, cut", [("torchscript", ".torchscript"), ("openvino", ".bin")])
def test_truncated_torchscript_and_openvino_files(tiny_ts_ov, tmp_path, data_dir, fmt, cut):
    art = _copy(tiny_ts_ov[fmt], tmp_path)
    (target,) = art.glob(f"*{cut}")
    target.write_bytes(target.read_bytes()[:1000])
    title = {"torchscript": "TorchScript", "openvino": "OpenVINO"}[fmt]
    assert_clean_failure(_predict(art, data_dir), f"{title} model file", "cannot be opened")


def test_openvino_weights_file_missing(tiny_ts_ov, tmp_path, data_dir):
    art = _copy(tiny_ts_ov["openvino"], tmp_path)
    (weights,) = art.glob("*.bin")
    weights.unlink()
    assert_clean_failure(_predict(art, data_dir), weights.name, "is missing")


def test_wrong_kpt_shape_in_metadata_blames_the_artifact_in_val(tiny_artifact, tmp_path, coco8_copy):
    art = _copy(tiny_artifact, tmp_path)
    _edit_metadata(art, lambda m: m["model"].update(kpt_shape=[20, 3]))
    result = run_cli("val", "--no-verify", "--model", art, "--data", coco8_copy, "--imgsz", "64")
    assert_clean_failure(result, "metadata of the artifact", "kpt_shape", "65", "56")
    assert "dataset" not in result.stderr.split("\n")[0].lower()


def test_wrong_kpt_shape_in_metadata_in_selftest(tiny_artifact, tmp_path):
    art = _copy(tiny_artifact, tmp_path)
    _edit_metadata(art, lambda m: m["model"].update(kpt_shape=[20, 3]))
    assert_clean_failure(run_cli("selftest", "--no-verify", art), "metadata of the artifact", "kpt_shape")


def test_consistently_edited_metadata_is_checked_against_the_real_output(tiny_artifact, tmp_path, data_dir):
    art = _copy(tiny_artifact, tmp_path)

    def edit(meta):  # 20 keypoints everywhere in the metadata; the model still has 17
        meta["model"].update(kpt_shape=[20, 3], keypoint_names=[f"k{i}" for i in range(20)],
                             flip_idx=list(range(20)))
        meta["outputs"][0]["shape"][1] = 65
        meta["outputs"][0]["channels"] = [f"c{i}" for i in range(65)]

    _edit_metadata(art, edit)
    assert_clean_failure(_predict(art, data_dir), "does not describe its model", "56", "65")


def test_extra_class_name_in_metadata(tiny_artifact, tmp_path, data_dir):
    art = _copy(tiny_artifact, tmp_path)
    _edit_metadata(art, lambda m: m["model"]["names"].update({"1": "dog"}))
    assert_clean_failure(_predict(art, data_dir), "kpt_shape / names", "2 class(es)")


def test_metadata_that_is_not_json(tiny_artifact, tmp_path, data_dir):
    art = _copy(tiny_artifact, tmp_path)
    (art / "metadata.json").write_text("{not json")
    assert_clean_failure(_predict(art, data_dir), "metadata cannot be read", "not valid metadata JSON")


def test_empty_folder_as_model(tmp_path, data_dir):
    (tmp_path / "empty").mkdir()
    result = _predict(tmp_path / "empty", data_dir)
    assert_clean_failure(result, "is empty", "no checkpoint")
    assert "inside it" not in result.stderr


def test_folder_of_random_files_as_model(tmp_path, data_dir):
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    (folder / "blob.bin").write_bytes(bytes(range(256)))
    before = snapshot(folder)
    assert_clean_failure(_predict(folder, data_dir), "not a poseexport artifact", "metadata.json",
                         "blob.bin, notes.txt")
    assert snapshot(folder) == before


def test_run_folder_points_at_its_checkpoint(tmp_path, data_dir):
    run = tmp_path / "exp"
    (run / "weights").mkdir(parents=True)
    (run / "weights" / "best.pt").write_bytes(b"placeholder")
    assert_clean_failure(_predict(run, data_dir), "not a poseexport artifact", "weights/best.pt")


def test_artifact_folder_given_to_info_is_described(tiny_artifact):
    result = run_cli("info", "--model", tiny_artifact)  # PoseModel(path) opens artifacts (issue 11, item 8)
    assert result.returncode == 0 and "Traceback" not in result.output, result.output
    assert "onnx fp32 artifact, input [1, 3, 64, 64]" in result.stdout


def test_posemodel_of_a_number_says_what_it_takes():
    with pytest.raises(PoseExportError, match="cannot be built from 123.*checkpoint path"):
        PoseModel(123)


@pytest.mark.parametrize("suffix, words", [(".onnx", ("not a readable ONNX model", "truncated")),
                                           (".torchscript", ("not a readable TorchScript archive",))])
def test_bare_truncated_model_file(tiny_artifact, tiny_ts_ov, tmp_path, data_dir, suffix, words):
    source = _main_file(tiny_artifact) if suffix == ".onnx" else next(tiny_ts_ov["torchscript"].glob("*.torchscript"))
    bare = tmp_path / f"copied{suffix}"  # no metadata.json, no manifest: nothing checks it before the runtime
    bare.write_bytes(source.read_bytes()[:3000])
    assert_clean_failure(_predict(bare, data_dir), "copied" + suffix, *words)
