"""`--decode host`: the graph ends at the raw head maps and poseexport/decode/ decodes them.

The numpy decoder must reproduce the network's in-graph decode (head.decode) on any maps, and a
host-decode ONNX artifact must predict what the in-graph one does, through every path.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import poseexport
from poseexport import PoseModel
from poseexport.artifact_model import ArtifactModel
from poseexport.decode.host_decode import decode_level
from poseexport.errors import UnsupportedOptionError
from poseexport.selftest import selftest

IMGSZ = 64
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return PoseModel("posenet-test")


@pytest.fixture(scope="module")
def pair(tiny, tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    return {d: tiny.export("onnx", imgsz=IMGSZ, decode=d, out=root / d, log=lambda *_: None) for d in ("graph", "host")}


@pytest.mark.parametrize("kpt_shape,nc", [((17, 3), 1), ((5, 2), 3)])
def test_numpy_decoder_reproduces_the_in_graph_decode(kpt_shape, nc):
    torch.manual_seed(1)
    head = PoseModel("posenet-test", nc=nc, kpt_shape=kpt_shape).net.head.eval()
    maps = [torch.randn(2, 4 * head.reg_max + nc, s, s) * 3 for s in (8, 4, 2)]
    kpt = [torch.randn(2, head.nk, s, s) * 3 for s in (8, 4, 2)]
    with torch.no_grad():
        expected = head.decode(maps, torch.cat([k.view(2, head.nk, -1) for k in kpt], -1)).numpy()
    strides = [int(s) for s in head.stride]
    ours = np.concatenate([decode_level(m[:, :4 * head.reg_max].numpy(), m[:, 4 * head.reg_max:].numpy(),
                                        k.numpy(), s, kpt_shape) for m, k, s in zip(maps, kpt, strides)], axis=2)
    assert ours.shape == expected.shape == (2, 4 + nc + kpt_shape[0] * kpt_shape[1], 84)
    assert float(np.abs(ours - expected).max()) < 1e-4


def test_host_artifact_declares_every_head_map(pair):
    meta = pair["host"].metadata
    assert [(o.name, o.meaning, o.stride) for o in meta.outputs[:3]] == [
        ("p8_box", "box_distribution", 8), ("p8_cls", "class_logits", 8), ("p8_kpt", "keypoint_offsets", 8)]
    assert len(meta.outputs) == 12 and {o.kind for o in meta.outputs} == {"head"}
    assert meta.outputs[0].shape == (1, 64, 8, 8) and meta.outputs[0].channels[:2] == ("left.bin0", "left.bin1")
    # keypoint offsets and visibility logits are two tensors (two int8 scales in a quantised artifact)
    assert meta.outputs[2].channels[:3] == ("nose.dx", "nose.dy", "left_eye.dx")
    assert (meta.outputs[3].name, meta.outputs[3].meaning) == ("p8_vis", "keypoint_visibility")
    assert meta.outputs[3].channels[0] == "nose.visibility_logit" and meta.outputs[2].shape == (1, 34, 8, 8)
    assert meta.outputs[11].shape == (1, 17, 2, 2)
    assert pair["host"].report.passed and meta.validation["passed"] is True
    with poseexport.load(pair["host"].path) as runner:
        outs = runner.infer(np.zeros((1, 3, IMGSZ, IMGSZ), np.float32))
    assert [o.shape for o in outs] == [tuple(o.shape) for o in meta.outputs]


def test_host_and_graph_decode_predict_the_same(pair, data_dir):
    x = np.random.default_rng(3).random((1, 3, IMGSZ, IMGSZ), dtype=np.float32)
    with poseexport.load(pair["graph"].path) as g, poseexport.load(pair["host"].path) as h:
        assert float(np.abs(g.forward(x) - h.forward(x)).max()) < 1e-4
    image = str(data_dir / "images" / "zidane.jpg")
    a = ArtifactModel(pair["graph"].path).predict(image, imgsz=IMGSZ, conf=0.01)[0]
    b = ArtifactModel(pair["host"].path).predict(image, imgsz=IMGSZ, conf=0.01)[0]
    assert len(a.boxes.xyxy) == len(b.boxes.xyxy) > 0
    assert float(np.abs(a.keypoints.xy - b.keypoints.xy).max()) < 1e-3


def test_selftest_passes_on_the_host_artifact(pair):
    assert selftest(pair["host"].path, log=lambda *_: None) is True


def test_dynamic_host_decode_runs_at_two_sizes(tiny, tmp_path):
    artifact = tiny.export("onnx", imgsz=IMGSZ, decode="host", dynamic=True, out=tmp_path / "d", log=lambda *_: None)
    assert artifact.metadata.outputs[0].shape == ("batch", 64, "height/8", "width/8")
    net = copy.deepcopy(tiny.net).float().eval().fuse()
    rng = np.random.default_rng(4)
    with poseexport.load(artifact.path) as runner:
        for shape in ((1, 3, 64, 64), (2, 3, 96, 128)):
            x = rng.random(shape, dtype=np.float32)
            with torch.no_grad():
                expected = net(torch.from_numpy(x)).numpy()
            assert float(np.abs(runner.forward(x) - expected).max()) < 1e-3


def test_host_decode_refusals(tiny, tmp_path):
    with pytest.raises(UnsupportedOptionError, match="--nms"):
        tiny.export("onnx", imgsz=IMGSZ, decode="host", nms=True, out=tmp_path / "a")
    with pytest.raises(UnsupportedOptionError, match="decode"):
        tiny.export("openvino", imgsz=IMGSZ, decode="host", out=tmp_path / "b")
    with pytest.raises(UnsupportedOptionError, match="graph, host"):
        tiny.export("onnx", imgsz=IMGSZ, decode="device", out=tmp_path / "c")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_real_model_host_decode_finds_the_same_persons(official_pt, data_dir, tmp_path):
    """yolo11n-pose at 640 on bus and zidane: same persons, keypoints within 1e-3 px."""
    model = PoseModel(official_pt)
    folders = {d: model.export("onnx", decode=d, out=tmp_path / d, golden=False, validate=d == "host",
                               log=lambda *_: None).path for d in ("graph", "host")}
    for name in ("bus.jpg", "zidane.jpg"):
        image = str(data_dir / "images" / name)
        a = ArtifactModel(folders["graph"]).predict(image)[0]
        b = ArtifactModel(folders["host"]).predict(image)[0]
        assert len(a.boxes.xyxy) == len(b.boxes.xyxy) >= 2
        assert float(np.abs(a.keypoints.xy - b.keypoints.xy).max()) < 1e-3
        assert float(np.abs(a.boxes.xyxy - b.boxes.xyxy).max()) < 1e-3
