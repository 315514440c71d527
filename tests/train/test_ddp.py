"""Distributed training: two CPU processes under torchrun (gloo) train one epoch."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import torch
import yaml

from poseexport import PoseModel


def test_torchrun_two_processes_one_epoch(coco8_copy, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "poseexport.train.ddp_entry", "--model", "posenet-test.yaml", "--data", str(coco8_copy),
           "--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--project", str(tmp_path / "runs"),
           "--name", "ddp", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks: nothing left behind
        out, err = proc.communicate()
        raise AssertionError(f"torchrun did not finish in 240 s:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]
    run = tmp_path / "runs" / "ddp"
    assert sorted(p.name for p in run.parent.iterdir()) == ["ddp"]  # one run folder: rank 0 made it
    assert out.count("next: poseexport val") == 1  # rank 0 alone reports
    assert "distributed: 2 processes (gloo), 2 images each per step" in err
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert args["resolved"]["world_size"] == 2 and args["resolved"]["batch_per_process"] == 2
    raw = torch.load(run / "weights" / "last.pt", weights_only=True)
    state = json.loads(raw["train_json"])
    assert state["epochs_done"] == 1 and not state["interrupted"]
    assert raw["train_state"]["optimizer"]["state"]  # one optimiser step was taken
    assert not any(k.startswith("module.") for k in raw["state_dict"])  # weights saved unwrapped
    model = PoseModel(run / "weights" / "best.pt")
    assert len(model.predict(coco8_copy.parent / "images" / "val", imgsz=64)) == 4
