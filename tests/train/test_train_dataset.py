"""PoseTrainDataset, collate, the DataLoader and the batch picture, on real coco8-pose."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from poseexport.data import ImageLabels, load_split
from poseexport.errors import BadDatasetError, UnsupportedOptionError
from poseexport.predict.draw import BOX, COCO_KPT_COLORS
from poseexport.predict.letterbox import letterbox
from poseexport.train.batch_plot import plot_training_batch
from poseexport.train.dataset import (
    AugmentSettings,
    PoseTrainDataset,
    build_dataloader,
    collate,
)

QUIET = AugmentSettings(mosaic=1.0, translate=0, scale=0, hsv_h=0, hsv_s=0, hsv_v=0, fliplr=0)


@pytest.fixture(scope="module")
def train(data_dir):
    return load_split(data_dir / "coco8-pose" / "coco8-pose.yaml", "train", cache=False, progress=False)


def test_no_augment_reproduces_the_letterbox_exactly(train):
    ds = PoseTrainDataset(train, imgsz=320, augment=False)
    item = ds[0]  # 000000000036.jpg: 481 wide, 640 high
    assert item["ori_shape"] == (640, 481) and item["resized_shape"] == (320, 320)
    # By hand: gain 0.5 -> 240.5 rounds (half to even) to 240 px wide, 320 high; 80 px of
    # padding split 40 left / 40 right. The nose label (0.519751, 0.381250) lands at
    # x = 0.519751 * 240 + 40 = 164.74, y = 0.38125 * 320 = 122.0.
    nose = item["keypoints"][0, 0].numpy() * 320
    assert nose[0] == pytest.approx(164.74024, abs=1e-3) and nose[1] == pytest.approx(122.0, abs=1e-3)
    assert item["keypoints"][0, 0, 2] == 2
    box = item["bboxes"][0].numpy() * 320  # label cx 0.671279 w 0.645759 of the 240 px image
    assert box[0] == pytest.approx(0.671279 * 240 + 40, abs=1e-3)
    assert box[2] == pytest.approx(0.645759 * 240, abs=1e-3)
    assert item["ratio_pad"] == ((0.5, 240 / 481), (40, 0))
    expected, _ = letterbox(cv2.imread(str(train.samples[0].image)), 320)
    np.testing.assert_array_equal(item["img"].numpy(), expected[..., ::-1].transpose(2, 0, 1))


def test_items_follow_the_contract(train):
    ds = PoseTrainDataset(train, imgsz=256, seed=5)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            img, kpts = item["img"], item["keypoints"]
            assert img.dtype == torch.uint8 and img.shape == (3, 256, 256) and img.is_contiguous()
            n = len(item["cls"])
            assert item["cls"].shape == (n, 1) and item["bboxes"].shape == (n, 4) and kpts.shape == (n, 17, 3)
            assert all(t.dtype == torch.float32 for t in (item["cls"], item["bboxes"], kpts))
            b = item["bboxes"]
            assert ((b[:, :2] - b[:, 2:] / 2 >= -1e-6) & (b[:, :2] + b[:, 2:] / 2 <= 1 + 1e-6)).all()
            visible = kpts[..., 2] > 0
            assert ((kpts[..., :2] >= 0) & (kpts[..., :2] <= 1)).all()
            assert (kpts[~visible] == 0).all()  # invisible -> 0 0 0
            assert set(kpts[..., 2].unique().tolist()) <= {0.0, 1.0, 2.0}


def test_augmentation_is_deterministic_per_seed_epoch_and_index(train):
    a, b = PoseTrainDataset(train, 128, seed=1), PoseTrainDataset(train, 128, seed=1)
    assert torch.equal(a[2]["img"], b[2]["img"]) and torch.equal(a[2]["keypoints"], b[2]["keypoints"])
    a.set_epoch(1)
    assert not torch.equal(a[2]["img"], b[2]["img"])
    a.set_epoch(0)
    assert torch.equal(a[2]["img"], b[2]["img"])
    assert not torch.equal(PoseTrainDataset(train, 128, seed=2)[2]["img"], b[2]["img"])


def test_close_mosaic_turns_mosaic_off(train):
    ds = PoseTrainDataset(train, 320, settings=QUIET)
    plain = PoseTrainDataset(train, 320, augment=False)
    counts = [len(ds[i]["cls"]) for i in range(len(ds))]
    assert counts != [len(s.labels) for s in train.samples]  # mosaics gather other images' persons
    ds.close_mosaic()
    for i in range(len(ds)):
        # Without mosaic and with every random strength at 0, augmenting is the letterbox.
        got, want = ds[i], plain[i]
        assert torch.equal(got["img"], want["img"])
        torch.testing.assert_close(got["keypoints"], want["keypoints"], atol=1e-4, rtol=0)


def test_translate_hides_keypoints_that_leave_the_image(train):
    settings = AugmentSettings(mosaic=0, translate=0.45, scale=0, hsv_h=0, hsv_s=0, hsv_v=0, fliplr=0)
    ds = PoseTrainDataset(train, 320, settings=settings)
    ref = PoseTrainDataset(train, 320, augment=False)[0]["keypoints"][0]  # one person filling the image
    ref_visible = ref[:, 2] > 0
    hidden = 0
    for epoch in range(12):
        ds.set_epoch(epoch)
        item = ds[0]
        if len(item["cls"]) == 0:
            continue  # pushed (almost) entirely out: dropped with its keypoints
        kpts = item["keypoints"][0]
        both = (kpts[:, 2] > 0) & ref_visible
        shift = kpts[both, :2] - ref[both, :2]
        torch.testing.assert_close(shift, shift[:1].expand_as(shift), atol=1e-4, rtol=0)  # a pure translation
        moved = ref[:, :2] + shift[0]
        left = ref_visible & ((moved < 0) | (moved > 1)).any(1)
        assert torch.equal(kpts[:, 2] == 0, left | ~ref_visible)
        assert (kpts[left] == 0).all()
        hidden += int(left.sum())
    assert hidden > 0


def test_fliplr_without_flip_idx_is_refused(train):
    no_flip = replace(train, config=replace(train.config, flip_idx=None))
    with pytest.raises(UnsupportedOptionError, match="flip_idx"):
        PoseTrainDataset(no_flip, 64)
    PoseTrainDataset(no_flip, 64, settings=AugmentSettings(fliplr=0.0))  # no flip asked: fine
    PoseTrainDataset(no_flip, 64, augment=False)


def test_two_value_keypoints_zero_the_points_that_leave(train):
    samples = tuple(replace(s, labels=ImageLabels(s.labels.cls, s.labels.boxes, s.labels.keypoints[..., :2].copy()))
                    for s in train.samples)
    xy = replace(train, config=replace(train.config, kpt_shape=(17, 2)), samples=samples)
    ds = PoseTrainDataset(xy, 128, seed=3)
    zeroed = 0
    for i in range(len(ds)):
        kpts = ds[i]["keypoints"]
        assert kpts.shape[1:] == (17, 2)
        assert ((kpts >= 0) & (kpts <= 1)).all()
        zeroed += int((kpts == 0).all(-1).sum())
    assert zeroed > 0  # mosaic crops and the affine push some points out


def test_empty_dataset_and_bad_imgsz_are_refused(train):
    with pytest.raises(BadDatasetError):
        PoseTrainDataset(replace(train, samples=()), 64)
    with pytest.raises(UnsupportedOptionError, match="imgsz"):
        PoseTrainDataset(train, 20)


def test_background_image_gives_empty_label_tensors(train):
    samples = (replace(train.samples[1], labels=ImageLabels.empty((17, 3))), *train.samples[1:])
    ds = PoseTrainDataset(replace(train, samples=samples), 64, augment=False)
    item = ds[0]
    assert item["cls"].shape == (0, 1) and item["bboxes"].shape == (0, 4) and item["keypoints"].shape == (0, 17, 3)
    batch = collate([item, ds[1]])
    assert batch["batch_idx"].tolist() == [1.0] * len(ds[1]["cls"])


def test_collate_concatenates_labels_with_their_image_index(train):
    ds = PoseTrainDataset(train, 64, augment=False)
    items = [ds[i] for i in range(4)]
    batch = collate(items)
    assert batch["img"].shape == (4, 3, 64, 64) and batch["img"].dtype == torch.uint8
    assert batch["batch_idx"].dtype == torch.float32
    assert batch["batch_idx"].tolist() == [0, 1, 1, 2, 2, 2, 3]  # 1, 2, 3 and 1 persons
    assert torch.equal(batch["keypoints"][3:6], items[2]["keypoints"])
    assert torch.equal(batch["bboxes"][1:3], items[1]["bboxes"])
    assert batch["cls"].shape == (7, 1) and batch["keypoints"].shape == (7, 17, 3)
    assert batch["im_file"] == [it["im_file"] for it in items]
    assert batch["ori_shape"] == [(640, 481), (500, 381), (375, 500), (640, 512)]


def _batches(loader) -> list[dict]:
    return list(loader)


def test_dataloader_with_workers_is_deterministic_and_follows_set_epoch(train):
    ds = PoseTrainDataset(train, 64, seed=4)
    loader = build_dataloader(ds, batch_size=2, workers=2, seed=4)
    assert loader.persistent_workers and loader.num_workers == 2
    first = _batches(loader)
    again = _batches(build_dataloader(PoseTrainDataset(train, 64, seed=4), 2, workers=0, seed=4))
    for a, b in zip(first, again, strict=True):  # same batches whichever process built them
        assert a["im_file"] == b["im_file"] and torch.equal(a["img"], b["img"])
        assert torch.equal(a["keypoints"], b["keypoints"]) and torch.equal(a["batch_idx"], b["batch_idx"])
    assert sorted(f for b in first for f in b["im_file"]) == sorted(str(s.image) for s in train.samples)
    # The persistent workers see set_epoch and close_mosaic made here, in the main process.
    ds.set_epoch(3)
    ds.close_mosaic()
    epoch3 = _batches(loader)
    index = {str(s.image): i for i, s in enumerate(train.samples)}
    for batch in epoch3:
        for j, name in enumerate(batch["im_file"]):
            assert torch.equal(batch["img"][j], ds[index[name]]["img"])
    assert [b["im_file"] for b in epoch3] != [b["im_file"] for b in first] or len(ds) < 3


def test_distributed_sampler_splits_the_images_between_ranks(train):
    ds = PoseTrainDataset(train, 64, augment=False)
    seen = []
    for rank in range(2):
        loader = build_dataloader(ds, 1, workers=0, distributed=True, rank=rank, world_size=2, seed=0)
        assert isinstance(loader.sampler, torch.utils.data.DistributedSampler)
        loader.sampler.set_epoch(1)
        seen.append([b["im_file"][0] for b in loader])
    assert len(seen[0]) == len(seen[1]) == 2
    assert sorted(seen[0] + seen[1]) == sorted(str(s.image) for s in train.samples)


def test_batch_plot_size_and_a_keypoint_where_the_label_says(train, tmp_path):
    ds = PoseTrainDataset(train, 64, augment=False)
    path = plot_training_batch(collate([ds[i] for i in range(4)]), train.config.names, (17, 3), None,
                               tmp_path / "batch.png")
    assert path.suffix == ".png" and cv2.imread(str(path)).shape == (128, 128, 3)  # 2 x 2 tiles of 64

    big = PoseTrainDataset(train, 320, augment=False)
    batch = collate([big[3]])  # 000000000086.jpg: one person, 320 x 320 tile at scale 1
    picture = cv2.imread(str(plot_training_batch(batch, {0: "person"}, (17, 3), None, tmp_path / "one.png")))
    assert picture.shape == (320, 320, 3)
    kpts = batch["keypoints"][0].numpy()
    xy = kpts[:, :2] * 320
    visible = kpts[:, 2] > 0
    # The visible keypoint farthest from every other one: its disc is drawn last and uncovered.
    dist = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(17) * 1e9
    dist[:, ~visible] = 1e9
    j = int(np.argmax(np.where(visible, dist.min(1), -1)))
    x, y = (round(float(v)) for v in xy[j])
    assert tuple(picture[y, x].tolist()) == pytest.approx(COCO_KPT_COLORS[j], abs=3)
    x1 = round((batch["bboxes"][0, 0] - batch["bboxes"][0, 2] / 2).item() * 320)
    y_mid = round(batch["bboxes"][0, 1].item() * 320)
    assert tuple(picture[y_mid, x1].tolist()) == pytest.approx(BOX, abs=3)  # the box's left edge
