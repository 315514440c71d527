"""Bad dataset yamls and label sets through the real CLI (val and train on the tiny network):
missing keys, a wrong kpt_shape, paths to nowhere, labels with the wrong column count, and a
split with no label at all — each named, with the file and the fix; nothing is written."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_harness import assert_clean_failure, run_cli, snapshot

GOOD = ("path: .\ntrain: images/train\nval: images/val\nkpt_shape: [17, 3]\n"
        "flip_idx: [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]\nnames:\n  0: person\n")


def _val(data: Path, *extra: str):
    return run_cli("val", "--model", "posenet-test", "--data", data, "--imgsz", "64", "--quiet", *extra)


def _yaml(coco8_copy: Path, text: str) -> Path:
    path = coco8_copy.parent / "edited.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, words", [
    (GOOD.replace("val: images/val\n", ""), ("has no 'val' entry", "keys found")),
    (GOOD.replace("[17, 3]", "[17, 4]"), ("kpt_shape", "[17, 4]", "[K, 2]")),
    (GOOD.replace("path: .", "path: /no/such/dataset"), ("dataset root", "/no/such/dataset", "does not exist")),
    (GOOD.replace("images/val", "images/elsewhere"), ("'val' images", "images/elsewhere", "does not exist")),
    (GOOD.replace("names:\n  0: person\n", ""), ("class names", "'names' is None")),
    ("path: .\nval: [unclosed\n", ("is not valid YAML",)),
], ids=["no-val", "kpt-shape-17x4", "root-nowhere", "val-nowhere", "no-names", "not-yaml"])
def test_bad_dataset_yaml(coco8_copy, text, words):
    data = _yaml(coco8_copy, text)
    before = snapshot(coco8_copy.parent)
    assert_clean_failure(_val(data), *words)
    assert snapshot(coco8_copy.parent) == before


def test_dataset_yaml_that_does_not_exist(tmp_path):
    assert_clean_failure(_val(tmp_path / "nope.yaml"), "nope.yaml", "does not exist")


def test_dataset_with_other_keypoints_than_the_model(coco8_copy):
    root = coco8_copy.parent
    for label in (root / "labels" / "val").glob("*.txt"):  # 5 keypoints: 5 + 15 columns
        label.write_text("0 0.5 0.5 0.2 0.4" + " 0.5 0.5 2" * 5 + "\n")
    data = _yaml(coco8_copy, GOOD.replace("[17, 3]", "[5, 3]").replace(
        "flip_idx: [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]\n", ""))
    assert_clean_failure(_val(data), "does not fit the model", "17 keypoints", "[5, 3]")


def test_every_label_with_the_wrong_column_count(coco8_copy):
    for label in (coco8_copy.parent / "labels" / "val").glob("*.txt"):
        label.write_text("0 0.5 0.5 0.2 0.4\n")  # a detection label: no keypoints
    assert_clean_failure(_val(coco8_copy), "cannot be used for validation", "5 columns, expected 56",
                         "detection label without keypoints")


def test_one_label_with_the_wrong_column_count_is_skipped_and_named(coco8_copy):
    label = sorted((coco8_copy.parent / "labels" / "val").glob("*.txt"))[0]
    label.write_text(label.read_text() + "0 0.5 0.5\n")
    result = _val(coco8_copy)
    assert result.returncode == 0, result.output
    assert "Traceback" not in result.output
    assert f"{label.name}:" in result.stderr and "3 columns, expected 56" in result.stderr
    assert "3/4 images used" in result.stderr


def test_val_on_a_split_without_any_label_file(coco8_copy):
    shutil.rmtree(coco8_copy.parent / "labels" / "val")
    result = _val(coco8_copy)
    assert_clean_failure(result, "cannot be used for validation", "none of its 4 image(s) has a label file",
                         "labels/val/")
    assert "mAP" not in result.output


def test_train_on_a_split_without_any_label_file(coco8_copy, tmp_path):
    shutil.rmtree(coco8_copy.parent / "labels" / "train")
    runs = tmp_path / "runs"
    result = run_cli("train", "--model", "posenet-test", "--data", coco8_copy, "--imgsz", "64", "--epochs", "1",
                     "--batch", "2", "--workers", "0", "--project", runs)
    assert_clean_failure(result, "cannot be used for training", "has a label file", "labels/train/")
    assert "trained" not in result.output and not runs.exists()


def test_train_with_an_unlabelled_val_split_is_refused_before_training(coco8_copy, tmp_path):
    shutil.rmtree(coco8_copy.parent / "labels" / "val")
    runs = tmp_path / "runs"
    result = run_cli("train", "--model", "posenet-test", "--data", coco8_copy, "--imgsz", "64", "--epochs", "1",
                     "--batch", "2", "--workers", "0", "--project", runs)
    assert_clean_failure(result, "validation after each epoch", "--no-val")
    assert not runs.exists()
