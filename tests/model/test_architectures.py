"""Every zoo architecture builds, has the published parameter count, and runs."""
from __future__ import annotations

import pytest
import torch

from poseexport.nn.config import BadConfigError, resolve_arch
from poseexport.nn.network import PoseNet

# published parameter counts (millions) of the pose models, and our tolerance
PUBLISHED_M = {
    "yolo11n": 2.9, "yolo11s": 9.9, "yolo11m": 20.9, "yolo11l": 26.2, "yolo11x": 58.8,
    "yolov8n": 3.3, "yolov8s": 11.6, "yolov8m": 26.4, "yolov8l": 44.4, "yolov8x": 69.4,
}


def build(name: str, **kw) -> PoseNet:
    spec = resolve_arch(name)
    return PoseNet(spec.config, spec.scale, **kw)


def test_yolo11n_pose_exact_parameter_counts():
    net = build("yolo11n-pose.yaml")
    assert net.num_parameters() == 2_874_462
    net.eval().fuse()
    assert net.num_parameters() == 2_866_468
    assert net.is_fused


@pytest.mark.parametrize("name", sorted(PUBLISHED_M))
def test_parameter_count_matches_published(name):
    net = build(f"{name}-pose.yaml")
    assert abs(net.num_parameters() / 1e6 - PUBLISHED_M[name]) < 0.1
    assert net.stride.tolist() == [8.0, 16.0, 32.0]


@pytest.mark.parametrize("kpt_shape,nc", [((17, 3), 1), ((17, 2), 1), ((24, 3), 2)])
def test_any_keypoint_layout_and_class_count(kpt_shape, nc):
    net = build("yolo11n-pose.yaml", nc=nc, kpt_shape=kpt_shape).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 128, 96))
    anchors = (128 // 8) * (96 // 8) + (128 // 16) * (96 // 16) + (128 // 32) * (96 // 32)
    assert out.shape == (2, 4 + nc + kpt_shape[0] * kpt_shape[1], anchors)
    scores = out[:, 4:4 + nc]
    assert float(scores.min()) >= 0.0 and float(scores.max()) <= 1.0


def test_training_mode_returns_raw_maps():
    net = build("posenet-test").train()
    maps, kpt = net(torch.rand(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, 65, 8, 8), (1, 65, 4, 4), (1, 65, 2, 2)]
    assert tuple(kpt.shape) == (1, 51, 84)


def test_fusion_preserves_outputs():
    torch.manual_seed(0)
    net = build("posenet-test").eval()
    for m in net.modules():  # non-trivial BN statistics so the fold is actually exercised
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
        after = net.fuse()(x)
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)


def test_unknown_config_name_suggests():
    with pytest.raises(BadConfigError, match="did you mean: .*yolo11n-pose.yaml"):
        resolve_arch("yolo11q-pose.yaml")
