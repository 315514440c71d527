"""The training loop: epochs of augmented batches, validation of the EMA model, checkpoints.

    result = train("yolo11n-pose.yaml", "coco8-pose.yaml", TrainOptions(epochs=3, imgsz=320))

One Trainer serves a plain process and every rank of a torchrun job (see distributed.py).
Per epoch: train (progress bar with the mean of each loss), validate the EMA weights on
the val split, write weights/last.pt (and best.pt when the fitness improved), append a
row to results.csv. Ctrl-C saves a resumable last.pt at the interrupted epoch and re-raises.
"""
from __future__ import annotations

import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..checkpoint.loader import load_checkpoint
from ..data.dataset import load_split
from ..data.dataset_yaml import load_dataset_yaml
from ..errors import BadCheckpointError, BadDatasetError, UnsupportedOptionError
from ..nn.network import PoseNet
from ..val.label_check import require_labelled_objects
from .checkpoint import read_train_state, restore_rng, save_train_checkpoint
from .distributed import (
    barrier,
    broadcast_object,
    init_distributed,
    shutdown,
    wrap_model,
)
from .ema import ModelEMA
from .loss import LOSS_NAMES, PoseLoss
from .optim import build_optimizer, choose_optimizer
from .options import RESUME_OVERRIDES, TrainOptions
from .results import ResultsLog, fitness, metric_values, plot_results
from .run_dir import new_run_dir, write_args
from .schedule import Schedule, warmup_iterations
from .transfer import freeze_layers, starting_net

Callback = Callable[["Trainer"], None]
EVENTS = ("on_epoch_start", "on_batch_start", "on_batch_end", "on_epoch_end")


@dataclass
class TrainResult:
    """Where the run is and how it ended."""

    save_dir: Path
    data: Path
    last: Path
    best: Path | None
    epochs_done: int
    epochs: int
    best_fitness: float | None
    best_epoch: int
    metrics: dict = field(default_factory=dict)  # the last epoch's row of results.csv
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)


def resolve_resume(resume: str | Path) -> Path:
    """A run folder or its weights/last.pt -> the last.pt path."""
    path = Path(resume)
    if path.is_dir():
        path = path / "weights" / "last.pt"
    if not path.is_file():
        raise BadCheckpointError(f"Cannot resume from {resume}", f"{path} does not exist",
                                 "pass a run folder (runs/train/exp) or its weights/last.pt")
    return path


def train(model, data: str | Path | None = None, options: TrainOptions | None = None, *,
          resume: str | Path | None = None, callbacks: dict[str, list[Callback]] | None = None,
          log: Callable[[str], None] | None = None) -> TrainResult:
    """Train `model` (a config name, a checkpoint or a PoseModel) on the dataset yaml `data`,
    or continue the run saved in `resume`. See TrainOptions for every setting."""
    return Trainer(model, data, options or TrainOptions(), resume=resume, callbacks=callbacks, log=log).run()


class Trainer:
    def __init__(self, model, data, options: TrainOptions, *, resume=None, callbacks=None, log=None):
        from ..artifact_model import refuse_artifact

        if resume is None:
            refuse_artifact(model, "train")  # an exported artifact holds no PyTorch weights
        self.model_arg, self.data_arg, self.resume_arg = model, data, resume
        self.opts = options.checked()
        self.callbacks = {event: list((callbacks or {}).get(event, [])) for event in EVENTS}
        unknown = set(callbacks or {}) - set(EVENTS)
        if unknown:
            raise UnsupportedOptionError(f"Unknown training callback event(s): {', '.join(sorted(unknown))}",
                                         "callbacks are called at fixed points of the loop",
                                         f"use {', '.join(EVENTS)}")
        self._log = log or (lambda text: print(text, file=sys.stderr))
        self.epoch = 0
        self.batch_index = 0
        self.notes: list[str] = []
        self.optimizer_steps = 0

    # ---- the whole run ---------------------------------------------------------------------
    def run(self) -> TrainResult:
        from ..model import parse_device

        previous_determinism = torch.are_deterministic_algorithms_enabled()
        self.ctx = init_distributed(parse_device(self.opts.device))
        try:
            self._setup()
            return self._loop()
        finally:
            torch.use_deterministic_algorithms(previous_determinism)
            shutdown(self.ctx)

    def log(self, text: str) -> None:
        if self.ctx.is_main:
            self._log(text)

    def note(self, text: str) -> None:
        """A decision the user should know about (printed and kept in the result)."""
        self.notes.append(text)
        self.log(f"note: {text}")

    def _fire(self, event: str) -> None:
        for callback in self.callbacks[event]:
            callback(self)

    # ---- setup -----------------------------------------------------------------------------
    def _setup(self) -> None:
        state = None
        if self.resume_arg is not None:
            state = self._load_resume_state()
        opts, ctx = self.opts, self.ctx
        self.device = ctx.device
        self.amp = self._decide_amp()
        _seed_everything(opts.seed + ctx.rank, opts.deterministic)
        if opts.deterministic and self.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

        self.config = load_dataset_yaml(self.data_arg)
        self.names = dict(self.config.names)
        self.train_set = load_split(self.config, "train", progress=ctx.is_main and opts.progress)
        if len(self.train_set) == 0:
            raise BadDatasetError(f"The train split of {self.config.yaml_path} has no usable images",
                                  self.train_set.report.summary(), "fix the labels listed by "
                                  f"`poseexport val --data {self.config.yaml_path} --split train`")
        require_labelled_objects(self.train_set, "training")
        self.val_set = load_split(self.config, opts.val_split, progress=False) if opts.val else None
        if self.val_set is not None:  # refused now rather than after the first epoch
            require_labelled_objects(self.val_set, "validation after each epoch",
                                     "label that split, pass another with --val-split, or train with --no-val")

        self._build_net(state)
        self._build_data()
        self._build_optimisation(state)
        self._make_run_dir(state)

    def _load_resume_state(self):
        self.resume_path = resolve_resume(self.resume_arg)
        ckpt = load_checkpoint(self.resume_path)
        state = read_train_state(ckpt.raw, self.resume_path)
        if state.epochs_done >= int(state.options["epochs"]) and not state.interrupted:
            raise UnsupportedOptionError(f"{self.resume_path} finished its {state.epochs_done} epochs",
                                         "there is nothing left to resume",
                                         f"to train longer, start a new run with --model {self.resume_path}")
        saved = TrainOptions.from_dict(state.options)
        # only where the run executes may change on resume; the run itself continues as it was
        self.opts = replace(saved, **{name: getattr(self.opts, name) for name in RESUME_OVERRIDES})
        self.data_arg = state.data
        self.resume_ckpt = ckpt
        return state

    def _decide_amp(self) -> bool:
        asked = self.opts.amp
        if self.device.type != "cuda":
            if asked:
                self.note("amp=True was asked, but mixed precision is off: it runs on CUDA only, "
                          f"and this run is on {self.device}")
            return False
        return True if asked is None else bool(asked)

    def _build_net(self, state) -> None:
        opts = self.opts
        nc, kpt_shape = self.config.nc, self.config.kpt_shape
        if state is not None:
            ema_net = self.resume_ckpt.net
            net = PoseNet(ema_net.cfg, ema_net.scale, nc=ema_net.nc, kpt_shape=ema_net.kpt_shape)
            net.load_state_dict(state.raw_weights)
            self.arch = self.resume_ckpt.facts.get("arch", "model")
            self.model_name = state.model
            self.log(f"resuming {self.resume_path}: {state.epochs_done} epoch(s) done, "
                     f"continuing at epoch {state.epochs_done + 1}/{opts.epochs}")
        else:
            start = starting_net(self.model_arg, nc, kpt_shape, opts.pretrained)
            net, self.arch = start.net, start.arch
            self.model_name = getattr(self.model_arg, "arch_name", None) or str(self.model_arg)
            for text in start.notes:
                self.log(text)
        if opts.freeze:
            n = freeze_layers(net, opts.freeze)
            self.log(f"froze layers 0-{opts.freeze - 1} ({n} tensors)")
        self.net = net.to(self.device)
        self.ema = ModelEMA(self.net, opts.ema_decay, opts.ema_tau)
        if state is not None:
            self.ema.model.load_state_dict(self.resume_ckpt.net.state_dict())
            self.ema.updates = state.ema_updates
        self.criterion = PoseLoss(self.net.head, gains=opts.gains)
        self.wrapped = wrap_model(self.net, self.ctx, opts.sync_bn)

    def _build_data(self) -> None:
        from .dataset import PoseTrainDataset, build_dataloader

        opts, ctx = self.opts, self.ctx
        if opts.batch < ctx.world_size:
            raise UnsupportedOptionError(f"batch={opts.batch} cannot be split over {ctx.world_size} processes",
                                         "each process needs at least one image per step",
                                         f"use --batch {ctx.world_size} or more")
        self.batch_per_process = opts.batch // ctx.world_size
        if opts.batch % ctx.world_size:
            self.note(f"batch {opts.batch} is not a multiple of {ctx.world_size} processes: each takes "
                      f"{self.batch_per_process} images, {self.batch_per_process * ctx.world_size} per step")
        self.dataset = PoseTrainDataset(self.train_set, opts.imgsz, augment=True, settings=opts.augment,
                                        seed=opts.seed)
        self.loader = build_dataloader(self.dataset, self.batch_per_process, workers=opts.workers,
                                       shuffle=True, seed=opts.seed, distributed=ctx.distributed,
                                       rank=ctx.rank, world_size=ctx.world_size)
        self.batches_per_epoch = len(self.loader)

    def _build_optimisation(self, state) -> None:
        opts = self.opts
        step_batch = self.batch_per_process * self.ctx.world_size
        accumulate = max(round(opts.nbs / step_batch), 1)
        weight_decay = opts.weight_decay * step_batch * accumulate / opts.nbs
        steps = math.ceil(len(self.train_set) / max(step_batch, opts.nbs)) * opts.epochs
        self.choice = choose_optimizer(opts.optimizer, opts.lr0, opts.momentum, steps, self.config.nc)
        warmup_bias_lr = opts.warmup_bias_lr
        if warmup_bias_lr is None:  # SGD steps scale with the gradient; Adam's first steps are ~lr * sign(g)
            warmup_bias_lr = 0.1 if self.choice.name == "SGD" else 0.0
        self.optimizer = build_optimizer(self.net, self.choice, weight_decay)
        self.schedule = Schedule(epochs=opts.epochs, lrf=opts.lrf, cos=opts.cos_lr,
                                 warmup_iters=warmup_iterations(opts.warmup_epochs, self.batches_per_epoch),
                                 warmup_bias_lr=warmup_bias_lr, warmup_momentum=opts.warmup_momentum,
                                 momentum=self.choice.momentum, accumulate=accumulate)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        sizes = [len(g["params"]) for g in self.optimizer.param_groups]
        self.log(f"optimizer: {self.choice.describe()}; {sizes[0]} weights (decay {weight_decay:.2g}), "
                 f"{sizes[1]} norm weights and {sizes[2]} biases (no decay); accumulate {accumulate} "
                 f"batch(es) of {step_batch} to the nominal batch {opts.nbs}; warm-up "
                 f"{self.schedule.warmup_iters} iterations")
        self.start_epoch, self.best_fitness, self.best_epoch = 0, None, 0
        if state is not None:
            self.optimizer.load_state_dict(state.optimizer)
            if state.scaler and self.amp:
                self.scaler.load_state_dict(state.scaler)
            restore_rng(state.rng["plain"], state.rng["tensors"])
            self.start_epoch, self.best_fitness = state.epochs_done, state.best_fitness
            self.best_epoch = state.best_epoch

    def _make_run_dir(self, state) -> None:
        opts = self.opts
        if state is not None:
            save_dir = self.resume_path.parent.parent
        else:
            save_dir = new_run_dir(opts.project, opts.name, opts.exist_ok) if self.ctx.is_main else None
        self.save_dir = Path(broadcast_object(self.ctx, str(save_dir) if save_dir else None))
        self.weights_dir = self.save_dir / "weights"
        self.last, self.best = self.weights_dir / "last.pt", self.weights_dir / "best.pt"
        if self.ctx.is_main:
            args = {"model": self.model_name, "data": str(self.config.yaml_path), **opts.to_dict(),
                    "resolved": {"optimizer": self.choice.describe(), "amp": self.amp,
                                 "world_size": self.ctx.world_size, "batch_per_process": self.batch_per_process,
                                 "accumulate": self.schedule.accumulate,
                                 "warmup_iterations": self.schedule.warmup_iters,
                                 "warmup_bias_lr": self.schedule.warmup_bias_lr}}
            write_args(self.save_dir / "args.yaml", args)
            self.results = ResultsLog(self.save_dir / "results.csv", keep_epochs=self.start_epoch)
            self.log(f"training {self.arch} on {self.config.yaml_path.name} "
                     f"({self.train_set.report.summary()}); run folder {self.save_dir}")
            if self.ctx.distributed:
                self.log(f"distributed: {self.ctx.world_size} processes "
                         f"({'nccl' if self.device.type == 'cuda' else 'gloo'}), {self.batch_per_process} "
                         f"images each per step")

    # ---- the loop ----------------------------------------------------------------------------
    def _loop(self) -> TrainResult:
        opts = self.opts
        row: dict = {}
        stopped = False
        t0 = time.time()
        epoch = self.start_epoch
        try:
            for epoch in range(self.start_epoch, opts.epochs):
                self.epoch = epoch
                self._fire("on_epoch_start")
                losses = self._train_epoch(epoch)
                row = self._end_epoch(epoch, losses, time.time() - t0)
                self._fire("on_epoch_end")
                stopped = bool(broadcast_object(self.ctx, self._should_stop(epoch)))
                if stopped:
                    self.note(f"stopped early at epoch {epoch + 1}: no better fitness for "
                              f"{opts.patience} epochs (best at epoch {self.best_epoch})")
                    break
        except KeyboardInterrupt:
            if self.ctx.is_main:
                self._save(self.last, epochs_done=epoch, interrupted=True, row=row)
                self._plot()
                self._log(f"\ninterrupted in epoch {epoch + 1}: saved {self.last} (resumable; the "
                          f"interrupted epoch is redone). Continue with:\n  poseexport train --resume "
                          f"{self.last}")
            raise
        done = epoch + 1 if opts.epochs > self.start_epoch else self.start_epoch
        self._note_short_run(done)
        self._plot()
        barrier(self.ctx)
        return TrainResult(save_dir=self.save_dir, data=self.config.yaml_path, last=self.last,
                           best=self.best if self.best.is_file() else None, epochs_done=done,
                           epochs=opts.epochs, best_fitness=self.best_fitness, best_epoch=self.best_epoch,
                           metrics=row, stopped_early=stopped, notes=self.notes)

    def _note_short_run(self, epochs_done: int) -> None:
        """Say so when the whole run stayed inside the learning-rate warm-up: the schedule (the
        reference one) starts the weights' learning rate at 0 and ramps it over warmup_iters
        iterations, so a run of one batch made its optimiser step(s) at a learning rate near 0
        and the weights have hardly moved — "trained 1/1 epochs" would read as more than it is."""
        iterations = (epochs_done - self.start_epoch) * self.batches_per_epoch
        warm = self.schedule.warmup_iters
        if iterations == 0 or iterations >= warm:
            return
        self.note(f"the whole run ({iterations} batch(es), {self.optimizer_steps} optimiser step(s)) stayed "
                  f"inside the {warm}-iteration learning-rate warm-up, whose learning rate starts at 0: the "
                  f"weights have barely moved. Train for more epochs or on more images (--warmup-epochs 0 "
                  f"turns the warm-up off)")

    def _train_epoch(self, epoch: int) -> np.ndarray:
        from tqdm import tqdm

        opts = self.opts
        self.wrapped.train()
        closing = epoch >= opts.epochs - opts.close_mosaic and opts.augment.mosaic > 0
        if closing and not self.dataset.mosaic_closed:
            self.log(f"mosaic off from epoch {epoch + 1} on (close_mosaic={opts.close_mosaic})")
            self.dataset.close_mosaic()
        self.dataset.set_epoch(epoch)  # a DistributedSampler's set_epoch does not reach the dataset
        self.loader.sampler.set_epoch(epoch)
        self.schedule.start_epoch(self.optimizer, epoch)
        nb = self.batches_per_epoch
        progress = tqdm(self.loader, total=nb, desc=f"epoch {epoch + 1}/{opts.epochs}", unit="batch",
                        file=sys.stderr, leave=False, disable=not (self.ctx.is_main and opts.progress))
        mean = np.zeros(len(LOSS_NAMES))
        pending = 0
        self.optimizer.zero_grad(set_to_none=True)
        try:
            for i, batch in enumerate(progress):
                self.batch_index = i
                accumulate = self.schedule.warm(self.optimizer, i + nb * epoch, epoch)
                self._fire("on_batch_start")
                if epoch == 0 and i < 3 and opts.plots and self.ctx.is_main:
                    self._plot_batch(batch, i)
                images = batch["img"].to(self.device, non_blocking=True).float() / 255
                with torch.autocast(self.device.type, enabled=self.amp):
                    preds = self.wrapped(images)
                    loss, items = self.criterion(preds, batch)
                if self.ctx.distributed:
                    loss = loss * self.ctx.world_size  # DDP averages gradients; the loss is a sum over images
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"the training loss became {loss.item()} at epoch {epoch + 1}, "
                                             f"batch {i}: components {items.tolist()}")
                self.scaler.scale(loss).backward()
                pending += 1
                if pending >= accumulate:
                    self._step()
                    pending = 0
                mean = (mean * i + items.float().cpu().numpy()) / (i + 1)
                progress.set_postfix({n: f"{v:.3f}" for n, v in zip(LOSS_NAMES, mean)}, refresh=False)
                self._fire("on_batch_end")
            if pending:  # apply what was accumulated: every epoch ends with no pending gradient
                self._step()
        finally:
            progress.close()
        return mean

    def _step(self) -> None:
        self.optimizer_steps += 1
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), max_norm=self.opts.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.net)

    def _end_epoch(self, epoch: int, losses: np.ndarray, elapsed: float) -> dict:
        row = {"epoch": epoch + 1, **{f"train/{n}_loss": float(v) for n, v in zip(LOSS_NAMES, losses)},
               **{f"lr/pg{j}": float(g["lr"]) for j, g in enumerate(self.optimizer.param_groups)},
               "time": round(elapsed, 2)}
        if self.ctx.is_main:
            if self.val_set is not None:
                row.update(metric_values(self.validate()))
                row["fitness"] = fitness(row)
            else:  # without validation, the lower training loss is the better model
                row["fitness"] = -float(losses.sum())
            improved = self.best_fitness is None or row["fitness"] > self.best_fitness
            if improved:
                self.best_fitness, self.best_epoch = row["fitness"], epoch + 1
            self.results.add(row)
            self._save(self.last, epochs_done=epoch + 1, interrupted=False, row=row)
            if improved:
                _copy_atomic(self.last, self.best)
            if self.opts.save_period > 0 and (epoch + 1) % self.opts.save_period == 0:
                _copy_atomic(self.last, self.weights_dir / f"epoch{epoch + 1}.pt")
            self._log(self._epoch_line(row))
        barrier(self.ctx)
        return row

    def _epoch_line(self, row: dict) -> str:
        losses = " ".join(f"{n} {row[f'train/{n}_loss']:.3f}" for n in LOSS_NAMES)
        text = f"epoch {row['epoch']}/{self.opts.epochs}: {losses}"
        if "metrics/mAP50-95(P)" in row:
            text += (f" | pose mAP50 {row['metrics/mAP50(P)']:.3f} mAP50-95 {row['metrics/mAP50-95(P)']:.3f}"
                     f", box mAP50 {row['metrics/mAP50(B)']:.3f} mAP50-95 {row['metrics/mAP50-95(B)']:.3f}")
        return text

    def validate(self):
        """Box and pose metrics of the EMA weights on the val split (rank 0 only)."""
        from ..val.options import ValOptions
        from ..val.validator import validate

        net = self.ema.model.eval()

        def infer(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return net(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

        options = ValOptions(imgsz=self.opts.imgsz, batch=max(1, self.batch_per_process),
                             split=self.opts.val_split, coco_eval=False, progress=self.opts.progress)
        return validate(infer, self.val_set, options, names=self.names, kpt_shape=tuple(net.kpt_shape),
                        stride=int(net.stride.max()))

    def _should_stop(self, epoch: int) -> bool:
        if not self.ctx.is_main or self.opts.patience <= 0:
            return False
        return (epoch + 1) - self.best_epoch >= self.opts.patience and epoch + 1 < self.opts.epochs

    def _save(self, path: Path, *, epochs_done: int, interrupted: bool, row: dict) -> Path:
        return save_train_checkpoint(
            path, ema_net=self.ema.model, raw_net=self.net, optimizer=self.optimizer, scaler=self.scaler,
            epochs_done=epochs_done, interrupted=interrupted, options=self.opts.to_dict(),
            data=str(self.config.yaml_path), model=self.model_name, arch=self.arch, names=self.names,
            metrics=row, best_fitness=self.best_fitness, best_epoch=self.best_epoch,
            ema_updates=self.ema.updates)

    def _plot(self) -> None:
        if self.ctx.is_main and self.opts.plots and self.results.rows:
            plot_results(self.save_dir / "results.csv")

    def _plot_batch(self, batch: dict, i: int) -> None:
        from .batch_plot import plot_training_batch

        plot_training_batch(batch, self.names, self.config.kpt_shape, _skeleton(self.config),
                            self.save_dir / f"train_batch{i}.png")


def _skeleton(config) -> list | None:
    """The dataset yaml's `skeleton` if it has one (None: COCO's for 17 keypoints, else points only)."""
    return config.extra.get("skeleton") if config.extra else None


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
