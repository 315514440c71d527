"""The training dataset: YOLO-pose samples, augmented, as tensors ready for the loss.

    ds = PoseTrainDataset(load_split("coco8-pose.yaml", "train"), imgsz=640)
    loader = build_dataloader(ds, batch_size=16, workers=2, seed=0)
    for epoch in range(epochs):
        ds.set_epoch(epoch)           # BEFORE iterating: workers read it when the epoch starts
        if epoch == epochs - 10: ds.close_mosaic()
        for batch in loader: ...

With augment=True a sample is: a 4-image mosaic (probability `mosaic`) or the image
letterboxed to imgsz, then random affine/perspective to imgsz x imgsz, HSV jitter,
vertical and horizontal flips. With augment=False it is the plain letterbox (pad 114),
exactly what `poseexport.predict` feeds the network. Each sample depends only on
(seed, epoch, index), never on the worker that builds it.
"""
from __future__ import annotations

import random

import numpy as np
import torch

from ..data import PoseDataset, Sample
from ..errors import BadDatasetError, BadInputError, UnsupportedOptionError
from ..predict.letterbox import letterbox
from ..predict.sources import read_image
from .augment import (
    AugmentSettings,
    PixelLabels,
    apply_hsv,
    flip_lr,
    flip_ud,
    mosaic4,
    normalise,
    random_affine_matrix,
    random_hsv_gains,
    resize_long_side,
    to_pixels,
    warp,
)

DEFAULT_AUGMENT = AugmentSettings()

__all__ = ["AugmentSettings", "PoseTrainDataset", "build_dataloader", "collate"]


class PoseTrainDataset(torch.utils.data.Dataset):
    """Samples of a `PoseDataset` as dicts of tensors (see `__getitem__`), augmented or not."""

    def __init__(self, dataset: PoseDataset, imgsz: int, augment: bool = True,
                 settings: AugmentSettings = DEFAULT_AUGMENT, seed: int = 0):
        if len(dataset) == 0:
            raise BadDatasetError(f"The '{dataset.split}' split of {dataset.config.yaml_path} has no usable images",
                                  dataset.report.summary(), "fix the issues listed when the split was scanned")
        if not isinstance(imgsz, int) or imgsz < 32:
            raise UnsupportedOptionError(f"Cannot train at imgsz={imgsz}", "imgsz must be an integer >= 32",
                                         "pass e.g. imgsz=640")
        self.dataset = dataset
        self.samples: tuple[Sample, ...] = dataset.samples
        self.imgsz = imgsz
        self.augment = augment
        self.settings = settings
        self.seed = int(seed)
        self.kpt_shape = tuple(dataset.config.kpt_shape)
        self.flip_idx = _flip_index(dataset, settings) if augment else None
        # [epoch, mosaic closed]: in shared memory so that persistent DataLoader workers
        # see set_epoch / close_mosaic made in the main process after they started.
        self._state = torch.zeros(2, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def epoch(self) -> int:
        return int(self._state[0])

    @property
    def mosaic_closed(self) -> bool:
        return bool(self._state[1])

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of `epoch` (call before iterating the loader)."""
        self._state[0] = int(epoch)

    def close_mosaic(self) -> None:
        """No more mosaics from now on (the last epochs train on whole, single images)."""
        self._state[1] = 1

    def __getitem__(self, index: int) -> dict:
        """img (3, imgsz, imgsz) uint8 RGB; cls (n, 1), bboxes (n, 4) cx cy w h and keypoints
        (n, K, D) x y [v], normalised to the output image; im_file, ori_shape (h, w),
        resized_shape (imgsz, imgsz) and ratio_pad (((gain_h, gain_w), (pad_x, pad_y)) of the
        letterbox in no-augment mode, None when augmented)."""
        sample = self.samples[index]
        if self.augment:
            image, labels = self._augmented(index)
            ratio_pad = None
        else:
            image, labels, ratio_pad = self._letterboxed(sample)
        cls, boxes, kpts = normalise(labels, self.imgsz, self.imgsz, self.kpt_shape[1])
        rgb = np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))
        return {"img": torch.from_numpy(rgb), "cls": torch.from_numpy(cls), "bboxes": torch.from_numpy(boxes),
                "keypoints": torch.from_numpy(kpts), "im_file": str(sample.image),
                "ori_shape": tuple(sample.shape), "resized_shape": (self.imgsz, self.imgsz),
                "ratio_pad": ratio_pad}

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _letterboxed(self, sample: Sample) -> tuple[np.ndarray, PixelLabels, tuple]:
        image = read_bgr(sample)
        h, w = image.shape[:2]
        boxed, info = letterbox(image, self.imgsz)
        # The resize makes exactly (round(w r), round(h r)) pixels: map labels with those sizes.
        new_h, new_w = round(h * info.gain), round(w * info.gain)
        lab = sample.labels
        labels = to_pixels(lab.cls, lab.boxes, lab.keypoints, (new_w, new_h), info.pad)
        return boxed, labels, ((new_h / h, new_w / w), info.pad)

    def _augmented(self, index: int) -> tuple[np.ndarray, PixelLabels]:
        rng, s, cfg = self._rng(index), self.imgsz, self.settings
        if not self.mosaic_closed and rng.random() < cfg.mosaic:
            others = rng.integers(0, len(self.samples), 3)
            tiles = [_resized(self.samples[i], s) for i in (index, *others.tolist())]
            centre = tuple(int(v) for v in rng.uniform(s / 2, 3 * s / 2, 2))
            image, labels = mosaic4([t[0] for t in tiles], [t[1] for t in tiles], s, centre)
        else:
            image, labels, _ = self._letterboxed(self.samples[index])
        h, w = image.shape[:2]
        matrix, gain = random_affine_matrix(rng, cfg, (w, h), s)
        image, labels = warp(image, labels, matrix, s, gain)
        image = apply_hsv(image, random_hsv_gains(rng, cfg))
        flip_v, flip_h = rng.random() < cfg.flipud, rng.random() < cfg.fliplr
        if flip_v:
            image, labels = flip_ud(image, labels, self.flip_idx)
        if flip_h:
            image, labels = flip_lr(image, labels, self.flip_idx)
        return image, labels


def _resized(sample: Sample, size: int) -> tuple[np.ndarray, PixelLabels]:
    image = resize_long_side(read_bgr(sample), size)
    h, w = image.shape[:2]
    lab = sample.labels
    return image, to_pixels(lab.cls, lab.boxes, lab.keypoints, (w, h))


def read_bgr(sample: Sample) -> np.ndarray:
    """Decode a sample's image (BGR uint8), with a dataset error if it changed since the scan."""
    try:
        return read_image(sample.image)
    except BadInputError as err:
        raise BadDatasetError(f"Cannot read the training image {sample.image}",
                              "it is missing or no longer decodes (it changed after the dataset was scanned)",
                              "restore the file or remove it and its label file") from err


def _flip_index(dataset: PoseDataset, settings: AugmentSettings) -> np.ndarray:
    """The keypoint permutation of a mirror image; refuses flips the dataset cannot label."""
    k = dataset.config.kpt_shape[0]
    flip_idx = dataset.config.flip_idx
    if flip_idx is None and k == 1:
        flip_idx = (0,)
    if flip_idx is None and (settings.fliplr > 0 or settings.flipud > 0):
        # Flipping without knowing which keypoint mirrors which would teach the network that
        # left and right are interchangeable: refuse rather than mis-train or drop the flip.
        raise UnsupportedOptionError(
            f"Cannot flip training images of {dataset.config.yaml_path}: it has no flip_idx",
            f"a mirrored image needs each of the {k} keypoints re-labelled as its mirror twin "
            "(left <-> right), and the dataset yaml does not say which that is",
            "add 'flip_idx: [...]' to the yaml (the index of each keypoint's mirror twin; "
            f"{list(range(k))} if no keypoint has a twin), or turn flips off: fliplr=0, flipud=0 "
            "(CLI: --set fliplr=0 --set flipud=0)")
    return np.asarray(flip_idx if flip_idx is not None else range(k), dtype=np.int64)


def collate(samples: list[dict]) -> dict:
    """Stack images; concatenate labels with `batch_idx` (float32 (N,)), the image index of each object."""
    batch = {"img": torch.stack([s["img"] for s in samples])}
    for key in ("cls", "bboxes", "keypoints"):
        batch[key] = torch.cat([s[key] for s in samples])
    batch["batch_idx"] = torch.cat([torch.full((len(s["cls"]),), float(i)) for i, s in enumerate(samples)])
    for key in ("im_file", "ori_shape", "resized_shape", "ratio_pad"):
        batch[key] = [s[key] for s in samples]
    return batch


class EpochSampler(torch.utils.data.Sampler[int]):
    """Random (or sequential) order drawn from (seed, the dataset's epoch): reproducible and
    resumable without replaying earlier epochs. `set_epoch` also sets the dataset's epoch."""

    def __init__(self, dataset: PoseTrainDataset, shuffle: bool, seed: int):
        self.dataset, self.shuffle, self.seed = dataset, shuffle, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        if not self.shuffle:
            return iter(range(len(self.dataset)))
        g = torch.Generator().manual_seed(self.seed + 1_000_003 * self.dataset.epoch)
        return iter(torch.randperm(len(self.dataset), generator=g).tolist())

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)


def _seed_worker(worker_id: int) -> None:
    # The augmentations draw from their own (seed, epoch, index) generator; seed the global
    # ones too so any library randomness in a worker is reproducible as well.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    # No cv2.setNumThreads here: in a forked worker whose parent already used OpenCV's thread
    # pool it deadlocks (seen with opencv 4.x); OpenCV's own calls in the worker are fine.


def build_dataloader(dataset: PoseTrainDataset, batch_size: int, workers: int = 2, shuffle: bool = True,
                     seed: int = 0, distributed: bool = False, rank: int = 0, world_size: int = 1
                     ) -> torch.utils.data.DataLoader:
    """A DataLoader with `collate`, seeded workers (persistent when workers > 0) and, when
    `distributed`, a DistributedSampler (call `loader.sampler.set_epoch(e)` each epoch)."""
    if batch_size < 1 or workers < 0:
        raise UnsupportedOptionError(f"Cannot load batches of {batch_size} with {workers} workers",
                                     "batch_size must be >= 1 and workers >= 0", "pass e.g. batch=16, workers=2")
    if distributed:
        sampler: torch.utils.data.Sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    else:
        sampler = EpochSampler(dataset, shuffle, seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
        pin_memory=torch.cuda.is_available(), drop_last=False, worker_init_fn=_seed_worker,
        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed),
        prefetch_factor=2 if workers > 0 else None)
