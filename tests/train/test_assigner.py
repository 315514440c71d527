"""TaskAlignedAssigner: candidates inside the box, top-k, conflicts, normalised targets."""
from __future__ import annotations

import pytest
import torch

from poseexport.train.assigner import TaskAlignedAssigner

STRIDE = 8.0


def grid(n: int = 8) -> torch.Tensor:
    """Anchor centres of an n x n grid at stride 8, in pixels: 4, 12, 20, ..."""
    c = (torch.arange(n, dtype=torch.float32) + 0.5) * STRIDE
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack((gx, gy), -1).view(-1, 2)


def assign(scores, pred_boxes, gt_boxes, gt_labels=None, valid=None, nc=1, **kw):
    anchors = grid()
    gt_boxes = torch.as_tensor(gt_boxes, dtype=torch.float32).view(1, -1, 4)
    m = gt_boxes.shape[1]
    gt_labels = torch.zeros(1, m, dtype=torch.long) if gt_labels is None else torch.tensor([gt_labels])
    valid = torch.ones(1, m, dtype=torch.bool) if valid is None else torch.tensor([valid])
    assigner = TaskAlignedAssigner(nc, **kw)
    return assigner(scores, pred_boxes, anchors, gt_labels, gt_boxes, valid), anchors


def uniform(value: float = 0.5, nc: int = 1, a: int = 64) -> torch.Tensor:
    return torch.full((1, a, nc), value)


def boxes_everywhere(box, a: int = 64) -> torch.Tensor:
    return torch.tensor(box, dtype=torch.float32).view(1, 1, 4).expand(1, a, 4).clone()


def test_positives_lie_inside_the_box_and_topk_is_respected():
    gt = [10.0, 10.0, 50.0, 42.0]  # 5 x 4 anchor centres inside: x 12..44, y 12..36
    out, anchors = assign(uniform(), boxes_everywhere(gt), [gt], topk=10)
    fg = out.fg_mask[0]
    inside = ((anchors[:, 0] > 10) & (anchors[:, 0] < 50) & (anchors[:, 1] > 10) & (anchors[:, 1] < 42))
    assert int(inside.sum()) == 20
    assert int(fg.sum()) == 10  # top-k of the 20 candidates
    assert bool((fg <= inside).all())
    assert out.target_boxes[0, fg].eq(torch.tensor(gt)).all()


def test_topk_picks_the_highest_alignment_metric():
    gt = [10.0, 10.0, 50.0, 42.0]
    scores = torch.rand(1, 64, 1, generator=torch.Generator().manual_seed(0))
    out, anchors = assign(scores, boxes_everywhere(gt), [gt], topk=4)
    inside = ((anchors[:, 0] > 10) & (anchors[:, 0] < 50) & (anchors[:, 1] > 10) & (anchors[:, 1] < 42))
    # identical boxes -> CIoU 1 -> metric = score^0.5: the 4 best-scored candidates win
    expected = torch.where(inside, scores[0, :, 0], torch.zeros(64)).topk(4).indices
    assert sorted(out.fg_mask[0].nonzero().flatten().tolist()) == sorted(expected.tolist())
    # normalised: the best anchor gets the GT's best overlap (1), the others metric / best metric
    ts = out.target_scores[0, :, 0]
    best = scores[0, expected, 0].sqrt()
    assert ts[expected].tolist() == pytest.approx((best / best.max()).tolist(), abs=1e-6)
    assert float(ts.sum()) == pytest.approx(float((best / best.max()).sum()), abs=1e-5)


def test_target_score_is_scaled_by_the_best_overlap():
    gt = torch.tensor([8.0, 8.0, 40.0, 40.0])
    shifted = gt + torch.tensor([4.0, 0.0, 4.0, 0.0])  # every prediction the GT box moved 4 px right
    out, _ = assign(uniform(), boxes_everywhere(shifted.tolist()), [gt.tolist()], topk=3)
    # IoU = 28*32 / (2*32*32 - 28*32) = 7/9; centre distance 4 over the 36 x 32 enclosing box
    expected_ciou = 7 / 9 - 16 / (36 ** 2 + 32 ** 2)
    ts = out.target_scores[0, :, 0]
    assert int(out.fg_mask.sum()) == 3
    assert float(ts.max()) == pytest.approx(expected_ciou, abs=1e-5)


def test_an_anchor_claimed_by_two_gts_keeps_the_one_it_overlaps_most():
    gt_a = [0.0, 0.0, 40.0, 40.0]
    gt_b = [16.0, 16.0, 64.0, 64.0]  # overlaps gt_a around anchors (20, 20), (28, 28), ...
    pred = boxes_everywhere(gt_a)
    shared = 3 * 8 + 3  # anchor (28, 28): inside both boxes
    pred[0, shared] = torch.tensor(gt_b)  # its prediction is exactly gt_b
    out, _ = assign(uniform(), pred, [gt_a, gt_b], topk=64)
    assert bool(out.fg_mask[0, shared])
    assert int(out.gt_index[0, shared]) == 1
    others_in_both = [2 * 8 + 2, 2 * 8 + 3, 3 * 8 + 2, 4 * 8 + 4]
    assert [int(out.gt_index[0, i]) for i in others_in_both] == [0, 0, 0, 0]  # they overlap gt_a best


def test_zero_metric_candidates_are_not_positives():
    gt = [8.0, 8.0, 40.0, 40.0]
    far = boxes_everywhere([100.0, 100.0, 120.0, 120.0])  # overlaps nothing: CIoU < 0 -> metric 0
    out, _ = assign(uniform(), far, [gt], topk=10)
    assert int(out.fg_mask.sum()) == 0
    assert float(out.target_scores.sum()) == 0.0


def test_tiny_box_is_widened_to_own_an_anchor():
    tiny = [13.0, 13.0, 19.0, 19.0]  # 6 px, between anchor centres 12 and 20: none strictly inside
    pred = boxes_everywhere([10.0, 10.0, 20.0, 20.0])
    plain, _ = assign(uniform(), pred, [tiny], min_box_side=0.0)
    widened, anchors = assign(uniform(), pred, [tiny], min_box_side=16.0)
    assert int(plain.fg_mask.sum()) == 0
    # widened about its centre (16, 16) to 8..24: anchors (12|20, 12|20)
    got = anchors[widened.fg_mask[0]].tolist()
    assert sorted(got) == [[12.0, 12.0], [12.0, 20.0], [20.0, 12.0], [20.0, 20.0]]
    assert widened.target_boxes[0, widened.fg_mask[0]].eq(torch.tensor(tiny)).all()  # the real box


def test_padding_slots_and_empty_images_get_no_positives():
    gt = [8.0, 8.0, 40.0, 40.0]
    out, _ = assign(uniform(), boxes_everywhere(gt), [gt, gt], valid=[False, False])
    assert int(out.fg_mask.sum()) == 0
    assigner = TaskAlignedAssigner(2)
    empty = assigner(uniform(nc=2), boxes_everywhere(gt), grid(), torch.zeros(1, 0, dtype=torch.long),
                     torch.zeros(1, 0, 4), torch.zeros(1, 0, dtype=torch.bool))
    assert empty.fg_mask.shape == (1, 64) and int(empty.fg_mask.sum()) == 0
    assert empty.target_scores.shape == (1, 64, 2) and float(empty.target_scores.abs().sum()) == 0.0


def test_target_score_goes_to_the_gt_class_only():
    gt = [8.0, 8.0, 40.0, 40.0]
    scores = uniform(nc=3)
    scores[..., 2] = 0.9
    out, _ = assign(scores, boxes_everywhere(gt), [gt], gt_labels=[1], nc=3, topk=5)
    fg = out.fg_mask[0]
    assert int(fg.sum()) == 5
    assert bool((out.target_labels[0, fg] == 1).all())
    ts = out.target_scores[0, fg]
    assert float(ts[:, [0, 2]].abs().sum()) == 0.0
    assert ts[:, 1].tolist() == pytest.approx([1.0] * 5, abs=1e-6)  # equal metrics, overlap 1
