"""Dataset yaml: path resolution and one clear error per way a yaml can be wrong."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from poseexport.data import list_images, load_dataset_yaml, split_sources
from poseexport.errors import BadDatasetError


def write_yaml(tmp_path: Path, text: str) -> Path:
    (tmp_path / "images" / "val").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "data.yaml"
    path.write_text(text)
    return path


GOOD = "path: .\nval: images/val\nkpt_shape: [17, 3]\nnames: {0: person}\n"


def test_coco8_yaml_is_read_relative_to_itself(data_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative 'path' must not depend on the current directory
    config = load_dataset_yaml(data_dir / "coco8-pose" / "coco8-pose.yaml")
    assert config.root == (data_dir / "coco8-pose").resolve()
    assert config.kpt_shape == (17, 3)
    assert config.names == {0: "person"} and config.nc == 1
    assert config.flip_idx == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    assert config.splits["val"] == ((data_dir / "coco8-pose" / "images" / "val").resolve(),)
    assert len(list_images(split_sources(config, "val"))) == 4
    assert len(list_images(split_sources(config, "train"))) == 4


def test_names_list_list_files_and_lists_of_sources(data_dir: Path, tmp_path: Path):
    images = sorted((data_dir / "coco8-pose" / "images" / "val").glob("*.jpg"))
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "val.txt").write_text(f"{images[0]}\n# a comment\n{images[1]}\n")
    yaml_path = tmp_path / "d.yaml"
    yaml_path.write_text(f"path: {data_dir / 'coco8-pose'}\nval: [{tmp_path / 'lists' / 'val.txt'}, "
                         f"images/train]\nkpt_shape: [17, 3]\nnames: [person]\n")
    config = load_dataset_yaml(yaml_path)
    assert config.names == {0: "person"}
    assert len(list_images(split_sources(config, "val"))) == 2 + 4


@pytest.mark.parametrize("text, what", [
    ("val: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "not a dataset yaml"),
    ("path: .\nkpt_shape: [17, 3]\nnames: [person]\n", "has no 'val' entry"),
    ("path: nowhere\nval: images/val\nkpt_shape: [17, 3]\nnames: [person]\n", "dataset root"),
    ("val: images/val\nkpt_shape: [17, 4]\nnames: [person]\n", "kpt_shape"),
    ("val: images/val\nkpt_shape: 17\nnames: [person]\n", "kpt_shape"),
    ("val: images/val\nkpt_shape: [17, 3]\nflip_idx: [0, 2, 1]\nnames: [person]\n", "flip_idx"),
    ("val: images/val\nkpt_shape: [3, 3]\nflip_idx: [0, 0, 1]\nnames: [person]\n", "permutation"),
    ("val: images/val\nkpt_shape: [17, 3]\nnames: {1: person}\n", "class indices"),
])
def test_bad_yaml_raises_bad_dataset_error(tmp_path: Path, text: str, what: str):
    with pytest.raises(BadDatasetError) as err:
        load_dataset_yaml(write_yaml(tmp_path, text))
    assert what in str(err.value)
    assert str(tmp_path) in str(err.value)  # names the file or folder


def test_missing_yaml_and_missing_split_folder(tmp_path: Path):
    with pytest.raises(BadDatasetError, match="does not exist"):
        load_dataset_yaml(tmp_path / "absent.yaml")
    config = load_dataset_yaml(write_yaml(tmp_path, GOOD.replace("images/val", "images/gone")))
    with pytest.raises(BadDatasetError, match="missing") as err:
        split_sources(config, "val")
    assert "images/gone" in str(err.value).replace(os.sep, "/")
    with pytest.raises(BadDatasetError, match="no 'train' split"):
        split_sources(config, "train")
