"""Fixtures shared by the backend tests: the tiny random test network and its PyTorch outputs."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from poseexport import PoseModel


@pytest.fixture(scope="module")
def tiny() -> PoseModel:
    torch.manual_seed(0)
    return PoseModel("posenet-test")


@pytest.fixture(scope="module")
def tiny_reference(tiny: PoseModel):
    """x -> raw outputs of the fused fp32 `tiny` network in PyTorch (what every artifact must match)."""
    net = copy.deepcopy(tiny.net).float().eval().fuse()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()

    return run
