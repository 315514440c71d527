"""Fixtures of the bad-input suite (its helpers are in cli_harness.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from poseexport import PoseModel


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory) -> Path:
    """A valid ONNX artifact of the tiny test network (copy it before breaking it)."""
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-artifact") / "posenet-test_onnx"
    PoseModel("posenet-test").export("onnx", imgsz=64, out=out, log=lambda *_: None)
    return out
