"""Training settings; each default lives here (augmentation and loss gains in their own modules).

    TrainOptions.from_kwargs(epochs=50, imgsz=320, optimizer="AdamW", mosaic=0.5, pose=10.0)

Flat keyword names are accepted for the nested settings: an `AugmentSettings` field name
(mosaic, degrees, fliplr, ...) goes to `augment`, a `LossGains` name (box, pose, kobj,
cls, dfl) goes to `gains`.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields, replace

from ..errors import UnsupportedOptionError

OPTIMIZERS = ("auto", "SGD", "AdamW")
# options that may differ when resuming: where the run executes, not what it computes
RESUME_OVERRIDES = ("device", "workers", "progress")


def _default_augment():
    from .augment import AugmentSettings

    return AugmentSettings()


def _default_gains():
    from .loss import LossGains

    return LossGains()


@dataclass(frozen=True)
class TrainOptions:
    """How to train. `None` means "decide from the situation" (documented per field)."""

    epochs: int = 100
    imgsz: int = 640
    batch: int = 16  # images per optimiser step over all processes (each DDP rank gets batch // world)
    nbs: int = 64  # nominal batch: gradients are accumulated up to this many images per step
    optimizer: str = "auto"  # "auto": AdamW with a fitted small lr for short runs, SGD for long ones
    lr0: float = 0.01
    lrf: float = 0.01  # final lr = lr0 * lrf
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 5e-4
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float | None = None  # None: 0.1 for SGD, 0 for AdamW (Adam's sign-like first steps)
    cos_lr: bool = False
    close_mosaic: int = 10  # turn mosaic off for the last N epochs
    patience: int = 100  # stop after N epochs without a better fitness (0: never)
    seed: int = 0
    deterministic: bool = True
    workers: int = 2
    device: str = "cpu"
    freeze: int = 0  # freeze the first N layers (model.0 ... model.N-1)
    amp: bool | None = None  # None: on for CUDA; mixed precision never runs on CPU
    sync_bn: bool = False  # DDP only: synchronise BatchNorm statistics across processes
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    pretrained: str | None = None  # weights to transfer (every tensor whose name and shape match)
    save_period: int = -1  # also keep weights/epochN.pt every N epochs (-1: off)
    val: bool = True
    val_split: str = "val"
    plots: bool = True
    progress: bool = True
    max_grad_norm: float = 10.0
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0
    augment: object = field(default_factory=_default_augment)  # augment.AugmentSettings
    gains: object = field(default_factory=_default_gains)  # loss.LossGains

    @staticmethod
    def from_kwargs(**kwargs) -> TrainOptions:
        """Build from flat keywords (see the module docstring); unknown names are refused."""
        base = TrainOptions()
        own = {f.name for f in fields(TrainOptions)}
        aug_names = {f.name for f in fields(base.augment)}
        gain_names = {f.name for f in fields(base.gains)}
        top, aug, gains, unknown = {}, {}, {}, []
        for key, value in kwargs.items():
            if key in own:
                top[key] = value
            elif key in aug_names:
                aug[key] = value
            elif key in gain_names:
                gains[key] = value
            else:
                unknown.append(key)
        if unknown:
            known = sorted(own | aug_names | gain_names)
            hints = [f"'{u}': did you mean {', '.join(difflib.get_close_matches(u, known, 3))}?"
                     for u in unknown if difflib.get_close_matches(u, known, 3)]
            raise UnsupportedOptionError(f"Unknown training option(s): {', '.join(sorted(unknown))}",
                                         "train accepts only the options listed below",
                                         "remove or rename them", context=hints + [", ".join(known)])
        options = replace(base, **top)
        if aug:
            options = replace(options, augment=replace(options.augment, **aug))
        if gains:
            options = replace(options, gains=replace(options.gains, **gains))
        return options.checked()

    def checked(self) -> TrainOptions:
        def bad(name: str, why: str, fix: str):
            return UnsupportedOptionError(f"{name}={getattr(self, name)!r} cannot be used", why, fix)

        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", "poseexport trains with SGD or AdamW",
                      f"use one of {', '.join(OPTIMIZERS)}")
        for name in ("epochs", "batch", "nbs"):
            if int(getattr(self, name)) < 1:
                raise bad(name, "it must be at least 1", f"pass a positive {name}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise bad("imgsz", "the network's largest stride is 32", "use a multiple of 32, e.g. 320 or 640")
        if self.lr0 <= 0 or not 0 < self.lrf <= 1:
            raise bad("lr0" if self.lr0 <= 0 else "lrf", "lr0 must be > 0 and lrf in (0, 1]",
                      "e.g. lr0=0.01 lrf=0.01")
        if self.workers < 0 or self.freeze < 0 or self.warmup_epochs < 0 or self.patience < 0:
            raise UnsupportedOptionError("workers, freeze, warmup_epochs and patience must be >= 0",
                                         f"got workers={self.workers}, freeze={self.freeze}, "
                                         f"warmup_epochs={self.warmup_epochs}, patience={self.patience}",
                                         "pass non-negative values")
        return self

    def to_dict(self) -> dict:
        """Flat, YAML-friendly: nested settings become `augment` and `gains` mappings."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> TrainOptions:
        """Inverse of to_dict (used when resuming)."""
        data = dict(data)
        flat = {**data.pop("augment", {}), **data.pop("gains", {}), **data}
        return TrainOptions.from_kwargs(**flat)
