"""The imported official yolo11n-pose matches Ultralytics' own ONNX export of the same weights."""
from __future__ import annotations

import numpy as np
import pytest

from poseexport import PoseModel
from poseexport.predict import postprocess, preprocess, read_image

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (extra 'onnx') is needed for the reference")


@pytest.fixture(scope="module")
def model(official_pt):
    return PoseModel(str(official_pt))


@pytest.fixture(scope="module")
def reference(official_onnx):
    return ort.InferenceSession(str(official_onnx), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("image", ["bus.jpg", "zidane.jpg"])
def test_raw_output_matches_reference_onnx(model, reference, data_dir, image):
    img = read_image(data_dir / "images" / image)
    batch, infos = preprocess([img], 640)
    ours = model.forward_numpy(batch)
    ref = reference.run(None, {"images": batch})[0]
    assert ours.shape == ref.shape == (1, 56, 8400)
    assert float(np.abs(ours - ref).max()) < 0.01

    # after NMS: the same persons, keypoints within half a pixel
    names, kpt_shape = {0: "person"}, (17, 3)
    a = postprocess(ours, infos, [img], [image], names, kpt_shape)[0]
    b = postprocess(ref, infos, [img], [image], names, kpt_shape)[0]
    assert len(a) == len(b) >= 4 if image == "bus.jpg" else len(a) == len(b) >= 2
    assert np.abs(a.boxes.xyxy - b.boxes.xyxy).max() < 0.5
    assert np.abs(a.keypoints.xy - b.keypoints.xy).max() < 0.5
    assert np.abs(a.boxes.conf - b.boxes.conf).max() < 1e-3


def test_fused_model_still_matches(official_pt, reference, data_dir):
    model = PoseModel(str(official_pt)).fuse()
    assert model.net.num_parameters() == 2_866_468
    batch, _ = preprocess([read_image(data_dir / "images" / "bus.jpg")], 640)
    diff = np.abs(model.forward_numpy(batch) - reference.run(None, {"images": batch})[0]).max()
    assert float(diff) < 0.01


def test_checkpoint_facts(model):
    assert model.names == {0: "person"}
    assert model.kpt_shape == (17, 3)
    assert model.checkpoint.origin == "ultralytics"
    assert model.checkpoint.sha256 == "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
    assert model.checkpoint.facts["train_args"]["imgsz"] == 640
    assert model.net.num_parameters() == 2_874_462
