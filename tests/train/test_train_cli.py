"""`poseexport train`: user errors exit non-zero with a clear message; a real 1-epoch run."""
from __future__ import annotations

import pytest
import torch

from poseexport.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_dataset(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--model", "posenet-test.yaml", "--data", str(tmp_path / "none.yaml"))
    assert code == 2 and "none.yaml does not exist" in err and "Traceback" not in err


def test_bad_dataset_yaml(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [images\nval: : :\n")
    code, _, err = run_cli(capsys, "--model", "posenet-test.yaml", "--data", str(bad), "--project", str(tmp_path))
    assert code == 2 and "is not valid YAML" in err


def test_unknown_model_and_no_data(capsys, coco8_copy, tmp_path):
    code, _, err = run_cli(capsys, "--model", "posenet-tset.yaml", "--data", str(coco8_copy),
                           "--project", str(tmp_path))
    assert code == 2 and "Unknown model config 'posenet-tset.yaml'" in err and "posenet-test" in err
    code, _, err = run_cli(capsys, "--model", "posenet-test.yaml")
    assert code == 2 and "needs --data" in err


def test_unknown_option_and_resume_conflicts(capsys, coco8_copy, tmp_path):
    code, _, err = run_cli(capsys, "--data", str(coco8_copy), "--set", "mosiac=0.5")
    assert code == 2 and "did you mean mosaic" in err
    code, _, err = run_cli(capsys, "--data", str(coco8_copy), "--set", "mosaic")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run_cli(capsys, "--resume", str(tmp_path), "--epochs", "5", "--lr0", "0.1")
    assert code == 2 and "epochs, lr0 cannot change" in err
    code, _, err = run_cli(capsys, "--resume", str(tmp_path))
    assert code == 2 and "last.pt does not exist" in err


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for flag in ("--resume", "--freeze", "--pretrained", "--sync-bn", "--no-val", "--set", "torchrun"):
        assert flag in out


def test_one_epoch_from_the_command_line(capsys, coco8_copy, tmp_path):
    code, out, err = run_cli(capsys, "--model", "posenet-test.yaml", "--data", str(coco8_copy), "--epochs", "1",
                             "--imgsz", "64", "--batch", "4", "--workers", "0", "--project", str(tmp_path),
                             "--name", "cli", "--amp", "--set", "mosaic=0.0", "--set", "pose=10", "-q")
    assert code == 0, err
    best = tmp_path / "cli" / "weights" / "best.pt"
    assert out.strip() == (f"next: poseexport val --model {best} --data {coco8_copy.resolve()}   |   "
                           f"poseexport convert --model {best} --format onnx")
    assert "mixed precision is off: it runs on CUDA only" in err and "trained 1/1 epochs" in err
    import json

    train_json = json.loads(torch.load(best, weights_only=True)["train_json"])
    assert train_json["options"]["gains"]["pose"] == 10 and train_json["options"]["augment"]["mosaic"] == 0.0
    code, _, _ = run_cli(capsys, "--resume", str(tmp_path / "cli"))
    assert code == 2  # finished: nothing to resume
