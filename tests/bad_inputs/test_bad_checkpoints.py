"""Bad checkpoints through the real CLI: malicious pickles run nothing (tests/malicious_pickles.py:
torch.save of an object whose __reduce__ calls code),
and a checkpoint that is empty, text or truncated is named, on every command that loads one."""
from __future__ import annotations

import pytest
import torch
from cli_harness import assert_clean_failure, run_cli, snapshot
from malicious_pickles import RunsCommand, RunsSubprocess


@pytest.mark.parametrize("payload, command", [
    (RunsCommand, ("info",)),
    (RunsSubprocess, ("convert", "--format", "onnx", "--imgsz", "64")),
    (RunsCommand, ("val", "--data", "{coco8}")),
])
def test_malicious_pickle_runs_nothing(tmp_path, coco8_copy, payload, command):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    torch.save({"model": payload(marker), "weights": torch.zeros(3)}, ckpt)
    args = [a.replace("{coco8}", str(coco8_copy)) for a in command]
    before = snapshot(tmp_path)
    result = run_cli(command[0], "--model", ckpt, *args[1:], cwd=tmp_path)
    assert_clean_failure(result, "Refused to load", "nothing from the file was run")
    assert not marker.exists()
    assert snapshot(tmp_path) == before  # convert left no artifact or work folder


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n"], ids=["empty", "text"])
def test_checkpoint_that_is_not_a_checkpoint(tmp_path, data_dir, content):
    ckpt = tmp_path / "fake.pt"
    ckpt.write_bytes(content)
    result = run_cli("predict", "--model", ckpt, "--source", data_dir / "images" / "bus.jpg")
    assert_clean_failure(result, "Cannot read checkpoint", "fake.pt", "not a PyTorch zip checkpoint")


def test_truncated_real_checkpoint(tmp_path, official_pt, data_dir):
    ckpt = tmp_path / "cut.pt"
    ckpt.write_bytes(official_pt.read_bytes()[:200_000])
    result = run_cli("predict", "--model", ckpt, "--source", data_dir / "images" / "bus.jpg")
    assert_clean_failure(result, "Cannot read checkpoint", "cut.pt", "download completed")
