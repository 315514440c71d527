"""PoseLoss and its box utilities: hand-computed values, edge cases, and a short optimisation."""
from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from poseexport import PoseModel
from poseexport.data.dataset import load_split
from poseexport.errors import BadDatasetError, UnsupportedOptionError
from poseexport.metrics.matching import COCO_KPT_SIGMAS
from poseexport.nn.head import make_anchors
from poseexport.predict.letterbox import letterbox
from poseexport.predict.sources import read_image
from poseexport.train.box_ops import (
    boxes_to_distances,
    ciou,
    distribution_focal_loss,
    expected_distances,
)
from poseexport.train.loss import LOSS_NAMES, LossGains, PoseLoss

IMGSZ = 64  # posenet-test: strides 8/16/32 -> 8x8 + 4x4 + 2x2 = 84 anchors


# ---- box utilities ------------------------------------------------------------------------
def test_ciou_of_identical_boxes_is_one():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [3.0, 5.0, 10.0, 6.0], [-4.0, 1.0, 40.0, 90.0]])
    assert ciou(boxes, boxes).tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)


def test_ciou_hand_computed():
    # same aspect ratio (v = 0): IoU 2/6, centre distance 1, enclosing 3 x 2 -> 1/3 - 1/13
    a, b = torch.tensor([0.0, 0.0, 2.0, 2.0]), torch.tensor([1.0, 0.0, 3.0, 2.0])
    assert float(ciou(a, b)) == pytest.approx(1 / 3 - 1 / 13, abs=1e-6)
    # 2x2 vs 4x2: IoU 0.5, rho^2/c^2 = 1/20, v = 4/pi^2 (atan 2 - atan 1)^2, alpha = v / (0.5 + v)
    c = torch.tensor([0.0, 0.0, 4.0, 2.0])
    v = 4 / math.pi ** 2 * (math.atan(2) - math.atan(1)) ** 2
    expected = 0.5 - 1 / 20 - v * v / (0.5 + v)
    assert float(ciou(a, c)) == pytest.approx(expected, abs=1e-6)
    assert float(ciou(c, a)) == pytest.approx(expected, abs=1e-6)  # symmetric
    assert expected == pytest.approx(0.446752, abs=1e-6)
    # disjoint: IoU 0, rho^2 = 16, enclosing 6 x 2 -> -16/40
    d = torch.tensor([4.0, 0.0, 6.0, 2.0])
    assert float(ciou(a, d)) == pytest.approx(-0.4, abs=1e-6)


def test_dfl_is_minimal_for_a_one_hot_target_at_an_integer_bin():
    target = torch.tensor([5.0])
    peaked = torch.full((1, 16), -30.0)
    peaked[0, 5] = 30.0
    assert float(distribution_focal_loss(peaked, target)) < 1e-6
    uniform = torch.zeros(1, 16)
    assert float(distribution_focal_loss(uniform, target)) == pytest.approx(math.log(16), abs=1e-5)
    wrong_bin = torch.full((1, 16), -30.0)
    wrong_bin[0, 6] = 30.0
    assert float(distribution_focal_loss(wrong_bin, target)) > 50


def test_dfl_between_bins_is_minimal_at_the_interpolating_distribution():
    target = torch.tensor([3.25])  # weight 0.75 on bin 3, 0.25 on bin 4
    best = torch.full((1, 16), -1e4)
    best[0, 3], best[0, 4] = math.log(0.75), math.log(0.25)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(distribution_focal_loss(best, target)) == pytest.approx(entropy, abs=1e-5)
    assert float(expected_distances(best.repeat(1, 4).view(1, 1, 64), 16)[0, 0, 0]) == pytest.approx(3.25)
    for shift in (0.3, -0.3):
        worse = best.clone()
        worse[0, 3] += shift
        assert float(distribution_focal_loss(worse, target)) > entropy + 1e-3


def test_box_to_distances_clamps_into_the_bins():
    anchors = torch.tensor([[5.0, 5.0]])
    box = torch.tensor([[2.0, 4.0, 30.0, 5.5]])
    assert boxes_to_distances(anchors, box, 15).tolist() == [pytest.approx([3.0, 1.0, 14.99, 0.5])]
    outside = torch.tensor([[6.0, 6.0, 8.0, 8.0]])  # anchor left of / above the box
    assert boxes_to_distances(anchors, outside, 15).tolist() == [[0.0, 0.0, 3.0, 3.0]]


# ---- fixtures -------------------------------------------------------------------------------
@functools.cache
def tiny_head(nc: int = 1, kpt_shape: tuple[int, int] = (17, 3)):
    """The head of a fresh posenet-test (read only by these tests, so shared between them)."""
    return PoseModel("posenet-test.yaml", nc=nc, kpt_shape=kpt_shape).net.head


def random_preds(head, batch_size: int = 2, seed: int = 0, box_logits: float | None = 0.0):
    """Random head outputs at 64 px; box_logits=0 gives uniform DFL bins (boxes 15 strides wide)."""
    g = torch.Generator().manual_seed(seed)
    maps = [torch.randn(batch_size, 64 + head.nc, IMGSZ // s, IMGSZ // s, generator=g) for s in (8, 16, 32)]
    if box_logits is not None:
        for m in maps:
            m[:, :64] = box_logits
    kpt = torch.randn(batch_size, head.nk, 84, generator=g)
    return [m.requires_grad_(True) for m in maps], kpt.requires_grad_(True)


def one_person_batch(kpt_shape=(17, 3), images: int = 2, seed: int = 0) -> dict:
    """One person per image (box 0.6 x 0.7 at the centre), keypoints inside it, a few unlabelled."""
    g = torch.Generator().manual_seed(seed)
    k, d = kpt_shape
    boxes = torch.tensor([[0.5, 0.5, 0.6, 0.7]]).repeat(images, 1)
    xy = 0.5 + (torch.rand(images, k, 2, generator=g) - 0.5) * torch.tensor([0.6, 0.7])
    if d == 3:
        vis = torch.full((images, k, 1), 2.0)
        vis[:, :3] = 0.0
        xy[:, :3] = 0.0
        kpts = torch.cat((xy, vis), -1)
    else:
        kpts = xy
    return {"cls": torch.zeros(images, 1), "bboxes": boxes, "keypoints": kpts,
            "batch_idx": torch.arange(images, dtype=torch.float32)}


def perfect_keypoints(head, batch: dict, batch_size: int, offset_px: float = 0.0) -> torch.Tensor:
    """Raw keypoint outputs that decode exactly to each image's (single) GT, plus offset_px in x."""
    k, d = head.kpt_shape
    feats = [torch.zeros(1, 1, IMGSZ // s, IMGSZ // s) for s in (8, 16, 32)]
    anchors, strides = make_anchors(feats, head.stride)
    raw = torch.zeros(batch_size, k, d, anchors.shape[0])
    for i in range(batch_size):
        gt = batch["keypoints"][i, :, :2] * IMGSZ  # (K, 2) pixels
        gt = gt + torch.tensor([offset_px, 0.0])
        grid_xy = gt.unsqueeze(-1) / strides.view(1, 1, -1)  # (K, 2, A)
        raw[i, :, :2] = (grid_xy - (anchors.t().unsqueeze(0) - 0.5)) / 2
        if d == 3:
            labelled = batch["keypoints"][i, :, 2] > 0
            raw[i, :, 2] = torch.where(labelled, 30.0, -30.0).unsqueeze(-1)
    return raw.view(batch_size, k * d, -1)


# ---- components -----------------------------------------------------------------------------
def test_perfect_keypoints_give_zero_pose_and_kobj_loss():
    head = tiny_head()
    batch = one_person_batch()
    maps, _ = random_preds(head)
    kpt = perfect_keypoints(head, batch, 2).requires_grad_(True)
    components, assignment = PoseLoss(head).components((maps, kpt), batch)
    assert int(assignment.fg_mask.sum()) > 0
    values = dict(zip(LOSS_NAMES, components.tolist()))
    assert values["pose"] == pytest.approx(0.0, abs=1e-6)
    assert values["kobj"] == pytest.approx(0.0, abs=1e-6)
    assert values["box"] > 0.1 and values["cls"] > 0.1 and values["dfl"] > 0.1


def test_pose_loss_follows_the_oks_formula():
    """Every keypoint off by d pixels: pose = mean over labelled k of 1 - exp(-d^2 / (8 sigma_k^2 w h))."""
    head = tiny_head()
    batch = one_person_batch()
    maps, _ = random_preds(head)
    kpt = perfect_keypoints(head, batch, 2, offset_px=3.0)
    kpt.view(2, 17, 3, -1)[:, :, 2] = 0.0  # visibility logits 0 -> kobj = ln 2
    with torch.no_grad():
        components, _ = PoseLoss(head).components((maps, kpt), batch)
    w, h = 0.6 * IMGSZ, 0.7 * IMGSZ
    sig = COCO_KPT_SIGMAS[3:]  # keypoints 0..2 are unlabelled
    expected = float(np.mean(1 - np.exp(-9.0 / (8 * sig ** 2 * w * h))))
    assert float(components[1]) == pytest.approx(expected, rel=1e-5)
    assert float(components[2]) == pytest.approx(math.log(2), rel=1e-6)


def test_loss_scales_with_batch_and_gains():
    head = tiny_head()
    batch = one_person_batch()
    preds = random_preds(head, box_logits=0.0)
    gains = LossGains(box=1.0, cls=2.0, dfl=3.0, pose=4.0, kobj=5.0)
    criterion = PoseLoss(head, gains)
    loss, items = criterion(preds, batch)
    components, _ = criterion.components(preds, batch)
    assert items.requires_grad is False and items.shape == (5,)
    assert items.tolist() == pytest.approx((components * torch.tensor([1.0, 4, 5, 2, 3])).tolist(), rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float(items.sum()) * 2, rel=1e-6)


def test_unsorted_batch_rows_give_the_same_loss():
    head = tiny_head()
    batch = one_person_batch(images=3)
    batch["batch_idx"] = torch.tensor([0.0, 2.0, 2.0])  # image 1 has no labels
    batch["bboxes"][1:] = torch.tensor([[0.35, 0.4, 0.5, 0.6], [0.6, 0.55, 0.6, 0.8]])
    shuffled = {key: value[[2, 0, 1]] for key, value in batch.items()}
    preds = random_preds(head, batch_size=3)
    criterion = PoseLoss(head)
    assert criterion(preds, batch)[1].tolist() == pytest.approx(criterion(preds, shuffled)[1].tolist(), rel=1e-6)


def test_mixed_precision_outputs_are_scored_in_float32():
    head = tiny_head()
    batch = one_person_batch()
    maps, kpt = random_preds(head, box_logits=None)  # random box bins: a bf16 matmul would show
    low = [m.detach().bfloat16() for m in maps], kpt.detach().bfloat16()
    same = [m.float() for m in low[0]], low[1].float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, items = PoseLoss(head)(low, batch)
    _, expected = PoseLoss(head)(same, batch)
    assert loss.dtype == torch.float32
    assert float(items[0]) > 0  # there are positives
    assert items.tolist() == pytest.approx(expected.tolist(), rel=1e-6)


def test_batch_without_labels_is_finite_and_only_pushes_scores_down():
    head = tiny_head()
    maps, kpt = random_preds(head)
    empty = {"cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4), "keypoints": torch.zeros(0, 17, 3),
             "batch_idx": torch.zeros(0)}
    loss, items = PoseLoss(head)((maps, kpt), empty)
    assert bool(torch.isfinite(loss))
    values = dict(zip(LOSS_NAMES, items.tolist()))
    assert values["cls"] > 0 and [values[n] for n in ("box", "pose", "kobj", "dfl")] == [0.0] * 4
    loss.backward()
    assert kpt.grad is not None and float(kpt.grad.abs().sum()) == 0.0  # in the graph, no push
    for m in maps:
        assert float(m.grad[:, :64].abs().sum()) == 0.0
        assert bool((m.grad[:, 64:] > 0).all())  # every class logit is pushed down


def test_two_dimensional_keypoints_have_no_kobj_and_skip_unlabelled_points():
    head = tiny_head(nc=3, kpt_shape=(5, 2))
    batch = one_person_batch((5, 2))
    batch["cls"] = torch.tensor([[2.0], [1.0]])
    batch["keypoints"][:, 0] = 0.0  # (0, 0): unlabelled when D == 2
    maps, _ = random_preds(head)
    kpt = perfect_keypoints(head, batch, 2)
    criterion = PoseLoss(head)
    assert criterion.sigmas.tolist() == pytest.approx([0.2] * 5)  # 1/K for non-COCO layouts
    components, assignment = criterion.components((maps, kpt), batch)
    assert float(components[2]) == 0.0
    assert float(components[1]) == pytest.approx(0.0, abs=1e-6)
    kpt.view(2, 5, 2, -1)[:, 0] += 5.0  # moving the unlabelled point changes nothing
    assert float(criterion.components((maps, kpt), batch)[0][1]) == pytest.approx(0.0, abs=1e-6)
    kpt.view(2, 5, 2, -1)[:, 1] += 1.0
    assert float(criterion.components((maps, kpt), batch)[0][1]) > 0.01
    fg = assignment.fg_mask
    assert set(assignment.target_labels[fg].tolist()) == {1, 2}
    assert float(assignment.target_scores[..., 0].sum()) == 0.0


def test_default_sigmas_are_cocos_for_17_keypoints():
    assert PoseLoss(tiny_head()).sigmas.numpy() == pytest.approx(COCO_KPT_SIGMAS)
    custom = PoseLoss(tiny_head(kpt_shape=(3, 3)), sigmas=[0.1, 0.2, 0.3])
    assert custom.sigmas.tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_bad_inputs_raise_clear_errors():
    head = tiny_head()
    preds = random_preds(head)
    with pytest.raises(UnsupportedOptionError, match="17 positive sigmas"):
        PoseLoss(head, sigmas=[0.1] * 5)
    batch = one_person_batch((5, 3))
    with pytest.raises(BadDatasetError, match="kpt_shape"):
        PoseLoss(head)(preds, batch)
    batch = one_person_batch()
    batch["cls"][0] = 3.0
    with pytest.raises(BadDatasetError, match="class ids"):
        PoseLoss(head)(preds, batch)
    with pytest.raises(BadDatasetError, match="keypoints"):
        PoseLoss(head)(preds, {k: v for k, v in batch.items() if k != "keypoints"})


# ---- the real network ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def coco8_at_64(data_dir):
    """The 4 coco8-pose train images letterboxed to 64 px with their labels in that frame."""
    data = load_split(data_dir / "coco8-pose" / "coco8-pose.yaml", "train", cache=False, progress=False)
    images, rows = [], {"cls": [], "bboxes": [], "keypoints": [], "batch_idx": []}
    for i, sample in enumerate(data.samples):
        boxed, info = letterbox(read_image(sample.image), IMGSZ)
        images.append(boxed[..., ::-1].transpose(2, 0, 1).astype(np.float32) / 255)
        (h, w), g, (px, py) = info.orig_shape, info.gain, info.pad
        scale, pad = np.array([w * g, h * g]) / IMGSZ, np.array([px, py]) / IMGSZ
        boxes = sample.labels.boxes.copy()
        boxes[:, :2] = boxes[:, :2] * scale + pad
        boxes[:, 2:] *= scale
        kpts = sample.labels.keypoints.copy()
        kpts[..., :2] = kpts[..., :2] * scale + pad
        rows["cls"].append(sample.labels.cls.reshape(-1, 1))
        rows["bboxes"].append(boxes)
        rows["keypoints"].append(kpts)
        rows["batch_idx"].append(np.full(len(boxes), i))
    batch = {k: torch.tensor(np.concatenate(v), dtype=torch.float32) for k, v in rows.items()}
    return torch.tensor(np.stack(images)), batch


def test_gradients_reach_all_three_head_branches(coco8_at_64):
    img, batch = coco8_at_64
    torch.manual_seed(0)
    net = PoseModel("posenet-test.yaml").net.train()
    loss, items = PoseLoss(net.head)(net(img), batch)
    assert bool((items > 0).all())
    loss.backward()
    head = net.head
    for branch in (head.cv2, head.cv3, head.cv4):  # box, class, keypoints
        assert sum(float(level[-1].weight.grad.abs().sum()) for level in branch) > 0


def test_a_few_steps_on_one_batch_reduce_every_component(coco8_at_64):
    img, batch = coco8_at_64
    torch.manual_seed(0)
    net = PoseModel("posenet-test.yaml").net.train()
    criterion = PoseLoss(net.head)
    optimiser = torch.optim.Adam(net.parameters(), lr=5e-3)
    history = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to a busy machine
    try:
        for _ in range(15):
            loss, items = criterion(net(img), batch)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            history.append(items)
    finally:
        torch.set_num_threads(threads)
    first, last = history[0], torch.stack(history[-3:]).mean(0)
    for name, a, b in zip(LOSS_NAMES, first.tolist(), last.tolist()):
        assert b < a, f"{name} did not decrease: {a:.4f} -> {b:.4f}"
