"""The training loop on the tiny posenet-test network and coco8-pose (64 px, CPU, seconds).

One 3-epoch run (module fixture) backs the checkpoint, results and loss tests; a second
run, interrupted by a simulated Ctrl-C and resumed, must end with the same weights.
"""
from __future__ import annotations

import copy
import csv
import json

import pytest
import torch
import yaml

from poseexport import PoseModel
from poseexport.checkpoint.loader import load_checkpoint
from poseexport.data import load_split
from poseexport.errors import BadCheckpointError, UnsupportedOptionError
from poseexport.train.checkpoint import read_train_state
from poseexport.train.dataset import PoseTrainDataset, collate
from poseexport.train.loss import PoseLoss
from poseexport.train.options import TrainOptions
from poseexport.train.results import COLUMNS
from poseexport.train.trainer import train

NO_AUGMENT = {"mosaic": 0.0, "translate": 0.0, "scale": 0.0, "fliplr": 0.0, "hsv_h": 0.0, "hsv_s": 0.0,
              "hsv_v": 0.0}
EPOCHS = 3


def tiny_options(tmp_path, name: str, **overrides) -> TrainOptions:
    """Deterministic, in-process loading, one batch of the 4 train images per epoch."""
    base = dict(epochs=EPOCHS, imgsz=64, batch=4, workers=0, warmup_epochs=0, project=str(tmp_path),
                name=name, progress=False, seed=0, **NO_AUGMENT)
    return TrainOptions.from_kwargs(**{**base, **overrides})


@pytest.fixture(scope="module")
def data_yaml(data_dir):
    return data_dir / "coco8-pose" / "coco8-pose.yaml"


@pytest.fixture(scope="module")
def run(data_yaml, tmp_path_factory):
    """3 epochs from scratch; remembers the starting weights (raw) for the loss check."""
    start = {}

    def snapshot(trainer):
        if not start:
            start.update(copy.deepcopy(trainer.net.state_dict()))

    out = tmp_path_factory.mktemp("runs")
    result = train("posenet-test.yaml", data_yaml, tiny_options(out, "full"),
                   callbacks={"on_epoch_start": [snapshot]}, log=lambda text: None)
    return result, start


def fixed_batch_loss(net, state, batch) -> float:
    net.load_state_dict(state)
    net.train()
    with torch.no_grad():
        loss, _ = PoseLoss(net.head)(net(batch["img"].float() / 255), batch)
    return loss.item() / len(batch["im_file"])


def test_training_reduces_the_loss_on_a_fixed_batch(run, data_yaml):
    result, start = run
    ds = PoseTrainDataset(load_split(data_yaml, "train"), 64, augment=False)
    batch = collate([ds[i] for i in range(len(ds))])
    ckpt = load_checkpoint(result.last)
    before = fixed_batch_loss(ckpt.net, start, batch)
    after = fixed_batch_loss(ckpt.net, ckpt.raw["train_state"]["model"], batch)
    assert before > 15.0  # an untrained head: the pose (OKS) loss alone is ~11.5
    assert after < 0.95 * before, (before, after)


def test_checkpoint_holds_the_run(run):
    result, _ = run
    assert result.epochs_done == EPOCHS and result.best is not None
    raw = torch.load(result.last, weights_only=True)  # the safe format: tensors and plain values only
    state = read_train_state(raw, result.last)
    assert state.epochs_done == EPOCHS and not state.interrupted
    assert state.options["epochs"] == EPOCHS and state.options["imgsz"] == 64
    assert state.options["augment"]["mosaic"] == 0.0 and state.options["gains"]["pose"] == 12.0
    assert state.ema_updates == EPOCHS  # one optimiser step per epoch (4 images, batch 4)
    assert len(state.optimizer["param_groups"]) == 3 and state.optimizer["state"]
    assert set(state.metrics) >= {"metrics/mAP50-95(P)", "metrics/mAP50(B)", "fitness"}
    ema, model = raw["state_dict"], state.raw_weights
    assert ema.keys() == model.keys()
    assert any(not torch.equal(ema[k], model[k]) for k in ema if ema[k].is_floating_point())
    facts = json.loads(raw["facts_json"])
    assert facts["names"] == {"0": "person"} and facts["train"]["epochs_done"] == EPOCHS


def test_best_checkpoint_loads_predicts_and_validates(run, data_dir, data_yaml):
    result, _ = run
    model = PoseModel(result.best)
    assert model.kpt_shape == (17, 3) and model.names == {0: "person"}
    raw = torch.load(result.best, weights_only=True)
    ckpt_state = raw["state_dict"]
    assert all(torch.equal(v, ckpt_state[k]) for k, v in model.net.state_dict().items())  # the EMA weights
    out = model.predict(data_dir / "images" / "bus.jpg", imgsz=64, conf=0.0)
    assert len(out) == 1 and out[0].keypoints.data.shape[1:] == (17, 3)
    metrics = model.val(data_yaml, imgsz=64, progress=False)
    # best.pt carries the results row of the epoch it was saved at: the val of its weights is that val
    row = json.loads(raw["train_json"])["metrics"]
    assert row["epoch"] == result.best_epoch
    assert metrics.pose.map == pytest.approx(row["metrics/mAP50-95(P)"], abs=1e-9)


def test_results_files(run):
    result, _ = run
    with (result.save_dir / "results.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == COLUMNS
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert all(float(r["train/pose_loss"]) > 0 and r["metrics/mAP50-95(P)"] != "" for r in rows)
    lrs = [float(r["lr/pg0"]) for r in rows]  # auto -> AdamW lr 0.002, linear decay to lrf
    assert lrs == pytest.approx([0.002, 0.002 * (1 - 1 / 3 * 0.99), 0.002 * (1 - 2 / 3 * 0.99)], rel=1e-4)
    args = yaml.safe_load((result.save_dir / "args.yaml").read_text())
    assert args["epochs"] == EPOCHS and args["resolved"]["optimizer"].startswith("AdamW(lr0=0.002")
    for name in ("results.png", "train_batch0.png"):
        assert (result.save_dir / name).stat().st_size > 1000


def test_interrupted_run_resumes_to_the_same_weights(run, data_yaml, tmp_path):
    """Ctrl-C at the first batch of epoch 3 -> last.pt at epoch 2, interrupted; resume finishes."""
    full, _ = run

    def ctrl_c(trainer):
        if trainer.epoch == 2 and trainer.batch_index == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train("posenet-test.yaml", data_yaml, tiny_options(tmp_path, "cut"),
              callbacks={"on_batch_start": [ctrl_c]}, log=lambda text: None)
    last = tmp_path / "cut" / "weights" / "last.pt"
    state = read_train_state(load_checkpoint(last).raw, last)
    assert state.interrupted and state.epochs_done == 2

    epochs_seen = []
    resumed = train(None, None, TrainOptions(progress=False), resume=tmp_path / "cut",
                    callbacks={"on_epoch_start": [lambda t: epochs_seen.append(t.epoch)]}, log=lambda text: None)
    assert epochs_seen == [2] and resumed.epochs_done == EPOCHS
    with (tmp_path / "cut" / "results.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]
    a, b = torch.load(full.last, weights_only=True), torch.load(resumed.last, weights_only=True)
    for key in ("state_dict",):
        for name, value in a[key].items():
            torch.testing.assert_close(b[key][name], value, rtol=0, atol=1e-6, msg=name)
    for name, value in a["train_state"]["model"].items():
        torch.testing.assert_close(b["train_state"]["model"][name], value, rtol=0, atol=1e-6, msg=name)

    with pytest.raises(UnsupportedOptionError, match="nothing left to resume"):
        train(None, None, TrainOptions(), resume=resumed.last)


def test_resume_refuses_a_weights_only_file(tmp_path):
    path = PoseModel("posenet-test.yaml").save(tmp_path / "plain.pt")
    with pytest.raises(BadCheckpointError, match="weights only"):
        train(None, None, TrainOptions(), resume=path)
    with pytest.raises(BadCheckpointError, match="does not exist"):
        train(None, None, TrainOptions(), resume=tmp_path / "nowhere")


def test_model_train_method_holds_the_best_weights(data_yaml, tmp_path):
    model = PoseModel("posenet-test.yaml")
    result = model.train(data_yaml, epochs=1, imgsz=64, batch=4, workers=0, project=str(tmp_path),
                         name="api", progress=False, plots=False, amp=True)
    assert result.epochs_done == 1 and model.source == result.best
    best = torch.load(result.best, weights_only=True)["state_dict"]
    assert all(torch.equal(v, best[k]) for k, v in model.net.state_dict().items())
    assert any("amp=True was asked, but mixed precision is off" in n for n in result.notes)
    assert model.data == str(data_yaml.resolve())
