"""Where the COCO JSON of a dataset is found: `coco_json:` in the yaml, or annotations/*keypoints*.json."""
from __future__ import annotations

from pathlib import Path

import pytest

from poseexport.data import load_dataset_yaml
from poseexport.errors import BadDatasetError
from poseexport.val import find_coco_json


def test_found_next_to_the_images(data_dir: Path):
    config = load_dataset_yaml(data_dir / "coco-val-pose" / "coco-val-pose.yaml")
    found = find_coco_json(config, "val")
    assert found == data_dir / "coco-val-pose" / "annotations" / "person_keypoints_subset.json"
    assert find_coco_json(load_dataset_yaml(data_dir / "coco8-pose" / "coco8-pose.yaml"), "val") is None


def test_coco_json_key_wins_and_must_exist(data_dir: Path, tmp_path: Path):
    root = data_dir / "coco-val-pose"
    yaml_path = tmp_path / "d.yaml"
    base = f"path: {root}\nval: images\nkpt_shape: [17, 3]\nnames: [person]\n"
    yaml_path.write_text(base + "coco_json: annotations/person_keypoints_subset.json\n")
    assert find_coco_json(load_dataset_yaml(yaml_path), "val") == \
        root / "annotations" / "person_keypoints_subset.json"
    yaml_path.write_text(base + "coco_json: annotations/absent.json\n")
    with pytest.raises(BadDatasetError, match="coco_json"):
        find_coco_json(load_dataset_yaml(yaml_path), "val")
