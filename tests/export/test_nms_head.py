"""The in-graph NMS equals the numpy greedy NMS used after inference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from poseexport.export.nms_head import NmsWrapper
from poseexport.predict.nms import non_max_suppression


class FixedOutput(torch.nn.Module):
    """Stands in for the network: returns a prepared raw prediction."""

    nc = 1

    def __init__(self, pred: torch.Tensor):
        super().__init__()
        self.pred = pred

    def forward(self, x):
        return self.pred


def clustered_predictions(seed: int, n: int = 400, nk: int = 51) -> np.ndarray:
    """Boxes in overlapping clusters (as real detections are), scores in [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(50, 590, (12, 2))
    pick = centres[rng.integers(0, 12, n)]
    xy = pick + rng.normal(0, 12, (n, 2))
    wh = rng.uniform(40, 160, (n, 2))
    scores = rng.uniform(0, 1, (n, 1))
    kpts = rng.uniform(0, 640, (n, nk))
    return np.concatenate([xy, wh, scores, kpts], 1).T[None].astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou", [0.45, 0.7])
def test_in_graph_nms_equals_greedy(seed, iou):
    pred = clustered_predictions(seed)
    wrapper = NmsWrapper(FixedOutput(torch.from_numpy(pred)), conf=0.25, iou=iou, max_det=300)
    rows = wrapper(torch.zeros(1, 3, 8, 8))[0].numpy()
    kept = rows[rows[:, 4] > 0]
    ref = non_max_suppression(pred, conf=0.25, iou=iou, max_det=300)[0]
    assert rows.shape == (300, 57)
    assert len(kept) == len(ref) > 5
    assert np.abs(kept - ref).max() < 1e-3


def test_max_det_caps_rows():
    pred = clustered_predictions(3)
    rows = NmsWrapper(FixedOutput(torch.from_numpy(pred)), conf=0.0, iou=0.9, max_det=7)(torch.zeros(1))
    assert rows.shape == (1, 7, 57) and bool((rows[0, :, 4] > 0).all())
