"""One entry point: `PoseModel(path)` opens an exported artifact (folder or bare file) with the same
predict / stream / val as `open_model`, and export / train refuse it, naming the PyTorch model
they need (in Python, and through the CLI with exit 2)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from cli_harness import assert_clean_failure, run_cli, snapshot

from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.errors import BadArtifactError, UnsupportedOptionError
from poseexport.model_opener import open_model


def same_results(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.array_equal(x.boxes.xyxy, y.boxes.xyxy) and np.array_equal(x.boxes.conf, y.boxes.conf)
        assert np.array_equal(x.keypoints.xy, y.keypoints.xy) and np.array_equal(x.keypoints.conf, y.keypoints.conf)


@pytest.fixture(scope="module")
def bare_copy(tiny_artifact, tmp_path_factory):
    """The artifact's model file alone, renamed, outside its folder (as `YOLO("best.onnx")` users have)."""
    path = tmp_path_factory.mktemp("bare") / "best.onnx"
    shutil.copyfile(tiny_artifact / "posenet-test.onnx", path)
    return path


@pytest.mark.parametrize("which", ["folder", "bare file"])
def test_predict_and_stream_equal_open_model(which, tiny_artifact, bare_copy, data_dir):
    path = tiny_artifact if which == "folder" else bare_copy
    bus = data_dir / "images" / "bus.jpg"
    model = PoseModel(path)
    assert isinstance(model, ArtifactModel) and not isinstance(model, PoseModel)
    assert repr(model) == f"ArtifactModel(onnx fp32: {path})"
    ours, theirs = model.predict(bus), open_model(path).predict(bus)
    assert len(ours[0].boxes.conf) > 0  # persons to compare (the random tiny network finds some)
    same_results(ours, theirs)
    same_results(list(model.stream([bus, data_dir / "images" / "zidane.jpg"])),
                 open_model(path).predict([bus, data_dir / "images" / "zidane.jpg"]))


def test_val_equals_open_model(tiny_artifact, coco8_copy):
    ours = PoseModel(tiny_artifact).val(coco8_copy, progress=False)
    theirs = open_model(tiny_artifact).val(coco8_copy, progress=False)
    assert ours.images == theirs.images == 4  # coco8-pose: 4 val images
    assert ours.pose.to_dict() == theirs.pose.to_dict() and ours.box.to_dict() == theirs.box.to_dict()


def test_a_checkpoint_or_config_is_still_a_pose_model():
    model = PoseModel("posenet-test")
    assert type(model) is PoseModel and repr(model).startswith("PoseModel(posenet-test:")


def test_export_and_train_of_an_artifact_are_refused(tiny_artifact, tmp_path):
    model = PoseModel(tiny_artifact)
    with pytest.raises(UnsupportedOptionError, match="Cannot export .* it is an exported onnx fp32 artifact"):
        model.export("onnx", out=tmp_path / "x")
    with pytest.raises(UnsupportedOptionError, match="Train needs the PyTorch model"):
        model.train("coco8-pose.yaml", epochs=1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UnsupportedOptionError, match="keeps the layout it was exported with"):
        PoseModel(tiny_artifact, nc=2)


def test_a_folder_that_is_no_artifact_is_named(tmp_path):
    with pytest.raises(BadArtifactError, match="is empty"):
        PoseModel(tmp_path)


@pytest.mark.parametrize("command, action", [(("convert", "--format", "onnx", "--imgsz", "64"), "export"),
                                             (("train", "--data", "{coco8}", "--epochs", "1", "--imgsz", "64"), "train")])
def test_cli_export_and_train_refuse_an_artifact(command, action, tiny_artifact, coco8_copy, tmp_path):
    args = [a.replace("{coco8}", str(coco8_copy)) for a in command]
    before = snapshot(tmp_path, tiny_artifact)
    result = run_cli(args[0], "--model", tiny_artifact, *args[1:], cwd=tmp_path)
    assert_clean_failure(result, f"Cannot {action} {tiny_artifact}", "it is an exported",
                         "needs the PyTorch model", "pass the checkpoint (.pt) or config (.yaml)")
    assert snapshot(tmp_path, tiny_artifact) == before  # nothing written, nothing touched


def test_cli_info_describes_an_artifact(tiny_artifact):
    result = run_cli("info", "--model", tiny_artifact)
    assert result.returncode == 0, result.output
    assert "posenet-test: onnx fp32 artifact, input [1, 3, 64, 64], validation passed" in result.stdout
