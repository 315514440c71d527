"""Bad images and videos through the real CLI: one clear paragraph, the right exit code, and a
bad file among good ones reported while the others are processed (exit 1)."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from cli_harness import assert_clean_failure, run_cli, snapshot


def _predict(artifact, source, *extra):
    return run_cli("predict", "--model", artifact, "--source", source, *extra)


@pytest.mark.parametrize("name, content", [
    ("corrupt.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8),
    ("text.jpg", b"this is a note, not a picture\n"),
    ("empty.jpg", b""),
])
def test_a_single_unreadable_image_is_a_user_error(tiny_artifact, tmp_path, name, content):
    bad = tmp_path / name
    bad.write_bytes(content)
    before = snapshot(tmp_path)
    result = _predict(tiny_artifact, bad, "--json", tmp_path / "out.json", "--save", tmp_path / "annotated")
    assert_clean_failure(result, "Cannot decode the image", name, "truncated, corrupt", code=2)
    assert snapshot(tmp_path) == before  # no JSON, no --save folder


def test_a_truncated_jpeg_is_named(tiny_artifact, data_dir, tmp_path):
    bad = tmp_path / "bus_cut.jpg"
    bad.write_bytes((data_dir / "images" / "bus.jpg").read_bytes()[:40_000])
    assert_clean_failure(_predict(tiny_artifact, bad), "bus_cut.jpg", "truncated", code=2)


def test_one_bad_image_among_good_ones_does_not_stop_the_run(tiny_artifact, data_dir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("bus.jpg", "zidane.jpg"):
        shutil.copy(data_dir / "images" / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    out_json, saved = tmp_path / "pred.json", tmp_path / "annotated"
    result = _predict(tiny_artifact, folder, "--json", out_json, "--save", saved)
    assert_clean_failure(result, "broken.jpg", "could not be read", "2 image(s)", code=1)
    records = json.loads(out_json.read_text())
    assert [r["image"].split("/")[-1] for r in records] == ["broken.jpg", "bus.jpg", "zidane.jpg"]
    assert "Cannot decode" in records[0]["error"] and records[0]["persons"] == []
    assert all("error" not in r for r in records[1:])
    assert sorted(p.name for p in saved.iterdir()) == ["bus.jpg", "zidane.jpg"]


def test_a_corrupt_video_leaves_no_empty_save_folder(tiny_artifact, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(np.random.default_rng(0).integers(0, 255, 4000, dtype=np.uint8).tobytes())
    before = snapshot(tmp_path)
    result = _predict(tiny_artifact, video, "--save", tmp_path / "out")
    assert_clean_failure(result, "Cannot open the video", "clip.mp4", code=2)
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_corrupt_video_among_good_ones_is_reported(tiny_artifact, tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    writer = cv2.VideoWriter(str(tmp_path / "good.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    out = tmp_path / "out"
    result = _predict(tiny_artifact, str(tmp_path / "*.mp4"), "--save", out)
    assert_clean_failure(result, "bad.mp4", "1 file(s) could not be read", "3 image(s)", code=1)
    assert [p.name for p in out.iterdir()] == ["good.mp4"]


def test_a_file_that_is_not_an_image_or_video(tiny_artifact, tmp_path):
    (tmp_path / "notes.gif").write_bytes(b"GIF89a")
    assert_clean_failure(_predict(tiny_artifact, tmp_path / "notes.gif"), "'.gif' is not supported", code=2)
