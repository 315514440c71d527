"""The reference images of an export: the shipped photos, plus four of its --data images chosen
deterministically; the report and the golden manifest entry name them."""
from __future__ import annotations

import json

import pytest
import torch

from poseexport import PoseModel
from poseexport.predict.sources import IMAGE_SUFFIXES
from poseexport.validate.reference_images import data_image_files, reference_images

SHIPPED = [f"poseexport/reference_images/coco_val2017_{i:012d}.jpg" for i in (785, 183709, 214753, 229358, 397133)]
CALIB = ["calib-people/300w_indoor_020.png", "calib-people/coco-val2017_000000005001.jpg",
         "calib-people/coco-val2017_000000389684.jpg", "calib-people/wflw_7_Cheering_Cheering_7_16.jpg"]


def test_without_data_the_shipped_photos_only(tmp_path):
    names, images = reference_images(None)
    assert names == SHIPPED and [im.shape for im in images][:2] == [(425, 640, 3), (640, 480, 3)]
    assert reference_images(str(tmp_path / "gone"))[0] == SHIPPED  # a --data folder no longer there


def test_data_images_are_spread_evenly_and_deterministic(data_dir):
    files = data_image_files(str(data_dir / "calib-people"))
    assert len(files) == 4 and files == data_image_files(str(data_dir / "calib-people"))
    every = sorted(p for p in (data_dir / "calib-people").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    assert [every.index(f) for f in files] == [0, 70, 140, 210]  # of 211, first and last included
    # a dataset yaml: its train split (coco8-pose has 4 train images: all of them)
    assert len(data_image_files(str(data_dir / "coco8-pose" / "coco8-pose.yaml"))) == 4


@pytest.mark.parametrize("fmt", ["onnx"])
def test_export_with_data_names_its_images(fmt, data_dir, tmp_path):
    torch.manual_seed(0)
    artifact = PoseModel("posenet-test").export(fmt, imgsz=64, data=str(data_dir / "calib-people"),
                                                out=tmp_path / "a", log=lambda *_: None)
    assert list(artifact.report.image_names) == SHIPPED + CALIB
    validation = json.loads((artifact.path / "metadata.json").read_text())["validation"]
    assert validation["image_names"] == SHIPPED + CALIB and validation["images"] == 9
    assert json.loads((artifact.path / "manifest.json").read_text())["golden"]["images"] == SHIPPED + CALIB
    assert "images in calib-people/: 300w_indoor_020.png, " in artifact.report.table()
