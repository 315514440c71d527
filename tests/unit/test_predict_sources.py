"""Sources: what is accepted, what each frame looks like, and the errors users see."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from poseexport.errors import BadInputError
from poseexport.paths import shared_data_dir
from poseexport.predict import iter_sources

BUS = shared_data_dir() / "images" / "bus.jpg"


def test_real_image_file():
    (frame,) = list(iter_sources(BUS))
    assert frame.name == str(BUS) and frame.frame is None
    assert frame.image.shape == (1080, 810, 3) and frame.image.dtype == np.uint8


def test_folder_sorted_non_recursive_images_only(tmp_path):
    shutil.copy(BUS, tmp_path / "b.jpg")
    Image.fromarray(np.full((10, 12), 200, np.uint8), "L").save(tmp_path / "a.png")  # grey
    Image.fromarray(np.zeros((8, 9, 4), np.uint8), "RGBA").save(tmp_path / "c.PNG")
    Image.fromarray(np.zeros((5, 6), np.uint8), "L").convert("P").save(tmp_path / "d.bmp")
    (tmp_path / "labels.txt").write_text("0 0.5 0.5 1 1\n")
    (tmp_path / "sub").mkdir()
    shutil.copy(BUS, tmp_path / "sub" / "e.jpg")
    frames = list(iter_sources(tmp_path))
    assert [f.name.rsplit("/", 1)[-1] for f in frames] == ["a.png", "b.jpg", "c.PNG", "d.bmp"]
    assert [f.image.shape for f in frames] == [(10, 12, 3), (1080, 810, 3), (8, 9, 3), (5, 6, 3)]
    assert (frames[0].image == 200).all()


def test_glob_and_list_and_arrays(tmp_path):
    for name in ("x1.jpg", "x2.jpg", "y.jpg"):
        shutil.copy(BUS, tmp_path / name)
    assert len(list(iter_sources(str(tmp_path / "x*.jpg")))) == 2
    grey = np.full((4, 5), 9, np.uint8)
    frames = list(iter_sources([grey, str(BUS), np.zeros((3, 3, 4), np.uint8)]))
    assert [f.name for f in frames] == ["array0", str(BUS), "array2"]
    assert frames[0].image.shape == (4, 5, 3) and (frames[0].image == 9).all()
    assert frames[2].image.shape == (3, 3, 3)


def test_video_frames(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    frames = list(iter_sources(path))
    assert len(frames) == 5
    assert [f.frame for f in frames] == [0, 1, 2, 3, 4]
    assert frames[3].name == f"{path}#frame3"
    assert frames[4].image.shape == (48, 64, 3)
    assert abs(int(frames[4].image.mean()) - 160) <= 3


def test_missing_path():
    with pytest.raises(BadInputError, match="does not exist") as err:
        iter_sources("/no/such/image.jpg")
    assert err.value.fix


@pytest.mark.parametrize("content", [np.random.default_rng(0).bytes(2000), b"hello, not a jpeg\n", b""])
def test_undecodable_image(tmp_path, content):
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    frames = iter_sources(path)  # found and accepted by extension; reading fails
    with pytest.raises(BadInputError, match="Cannot decode the image"):
        next(frames)


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(BadInputError, match="contains no images"):
        iter_sources(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BadInputError, match="contains no images"):
        iter_sources(tmp_path)


def test_glob_without_matches(tmp_path):
    with pytest.raises(BadInputError, match="matched no files"):
        iter_sources(str(tmp_path / "*.jpg"))


def test_unsupported_extension(tmp_path):
    path = tmp_path / "pose.gif"
    path.write_bytes(b"GIF89a")
    with pytest.raises(BadInputError, match="'.gif' is not supported") as err:
        iter_sources(path)
    assert ".jpg" in str(err.value)  # the valid choices are listed


def test_broken_video(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(np.random.default_rng(1).bytes(4000))
    with pytest.raises(BadInputError, match="video"):
        list(iter_sources(path))


def test_bad_arrays_and_types():
    with pytest.raises(BadInputError, match="dtype is float32"):
        iter_sources(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(BadInputError, match="shape"):
        iter_sources(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(BadInputError, match="empty"):
        iter_sources([])
    with pytest.raises(BadInputError, match="source of type int"):
        iter_sources(3)


def test_video_with_zero_frames(tmp_path):
    path = tmp_path / "empty.avi"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48)).release()
    with pytest.raises(BadInputError, match="no readable frames"):
        list(iter_sources(path))
