"""Checkpoints never run code: malicious pickles are refused, wrong models are named."""
from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest
import torch
from malicious_pickles import Evals, RunsCommand, RunsSubprocess

from poseexport import PoseModel
from poseexport.checkpoint.loader import load_checkpoint
from poseexport.checkpoint.safe_unpickle import restricted_load
from poseexport.errors import BadCheckpointError, UnsafeCheckpointError


@pytest.mark.parametrize("payload", [RunsCommand, RunsSubprocess, Evals])
def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    # a real torch checkpoint: tensors next to the payload, as an attacker would ship it
    torch.save({"model": payload(marker), "weights": torch.zeros(3)}, ckpt)
    with pytest.raises(UnsafeCheckpointError, match="Refused to load") as err:
        restricted_load(ckpt)
    assert "nothing from the file was run" in str(err.value)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        PoseModel(str(ckpt))
    assert not marker.exists()


def test_cli_refuses_malicious_checkpoint_without_traceback(tmp_path, data_dir):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    torch.save({"model": RunsCommand(marker)}, ckpt)
    proc = subprocess.run([sys.executable, "-m", "poseexport", "predict", "--model", str(ckpt),
                           "--source", str(data_dir / "images" / "bus.jpg")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Refused to load the checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()


def _fake_ultralytics_checkpoint(path, head_name: str, task: str):
    """A pickle shaped like an Ultralytics detection checkpoint, built from stand-in classes."""
    mod = types.ModuleType("ultralytics.nn.tasks")
    heads = types.ModuleType("ultralytics.nn.modules.head")
    model_cls = type("DetectionModel", (), {"__module__": "ultralytics.nn.tasks"})
    head_cls = type(head_name, (), {"__module__": "ultralytics.nn.modules.head"})
    mod.DetectionModel = model_cls
    setattr(heads, head_name, head_cls)
    saved = {k: sys.modules.get(k) for k in ("ultralytics", "ultralytics.nn", "ultralytics.nn.tasks",
                                              "ultralytics.nn.modules", "ultralytics.nn.modules.head")}
    for name in ("ultralytics", "ultralytics.nn", "ultralytics.nn.modules"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["ultralytics.nn.tasks"], sys.modules["ultralytics.nn.modules.head"] = mod, heads
    try:
        head = head_cls()
        head.__dict__.update(_modules={}, _parameters={"w": torch.zeros(2)}, nc=80)
        seq = torch.nn.Sequential()
        model = model_cls()
        model.__dict__.update(_modules={"model": seq}, yaml={"backbone": [], "head": []}, task=task)
        seq.add_module("0", torch.nn.Identity())
        seq._modules["1"] = head
        torch.save({"model": model, "train_args": {"task": task}}, path)
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def test_detection_checkpoint_is_not_a_pose_model(tmp_path):
    ckpt = tmp_path / "yolo11n.pt"
    _fake_ultralytics_checkpoint(ckpt, "Detect", "detect")
    with pytest.raises(BadCheckpointError, match="is not a pose model") as err:
        load_checkpoint(ckpt)
    assert "Detect" in str(err.value) and "task 'detect'" in str(err.value)


def test_plain_state_dict_is_not_a_pose_checkpoint(tmp_path):
    ckpt = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(1)}, ckpt)
    with pytest.raises(BadCheckpointError, match="not a pose model checkpoint"):
        load_checkpoint(ckpt)


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    ckpt = tmp_path / "broken.pt"
    ckpt.write_bytes(os.urandom(4096))
    with pytest.raises(BadCheckpointError, match="not a PyTorch zip checkpoint"):
        load_checkpoint(ckpt)


def test_native_round_trip_is_exact(tmp_path, official_pt):
    model = PoseModel(str(official_pt))
    saved = model.save(tmp_path / "ours.pt")
    again = PoseModel(str(saved))
    assert again.checkpoint.origin == "poseexport"
    assert again.names == model.names and again.kpt_shape == model.kpt_shape
    for (k, a), (k2, b) in zip(model.net.state_dict().items(), again.net.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    # the native file loads with torch's own weights_only loader too: no code inside
    assert torch.load(saved, weights_only=True)["format"] == "poseexport-checkpoint"
    assert not list(tmp_path.glob("*.tmp"))


def test_transfer_learning_reports_matches(official_pt):
    fresh = PoseModel("yolo11n-pose.yaml", kpt_shape=(24, 3))
    fresh.load(str(official_pt))
    matched, total = fresh.transferred
    assert total == len(fresh.net.state_dict())
    # 72 keypoint channels widen the whole keypoint branch (cv4): per level two Conv+BN
    # (5 sized tensors each) and the output conv (2) change shape -> 3 * 12 = 36 skipped
    assert matched == total - 36
    assert all(k.startswith("model.23.cv4.") for k in set(fresh.net.state_dict()) - _matched_keys(fresh))


def _matched_keys(model):
    return set(getattr(model, "transferred_keys", ()))
