"""Label parsing, the skip-and-report policy, and the label cache, on real coco8-pose files."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from poseexport.data import label_path_for, load_split, parse_label_text
from poseexport.data.cache import cache_path

LINE = "0 0.5 0.5 0.2 0.4 " + " ".join(["0.5 0.5 2"] * 17)


def test_good_lines_are_parsed_to_arrays():
    labels, issues = parse_label_text(LINE + "\n\n" + LINE.replace("0.2 0.4", "0.1 0.1"), (17, 3), 1)
    assert issues == []
    assert labels.cls.tolist() == [0, 0]
    np.testing.assert_allclose(labels.boxes[1], [0.5, 0.5, 0.1, 0.1])
    assert labels.keypoints.shape == (2, 17, 3) and labels.keypoints[0, 16, 2] == 2


@pytest.mark.parametrize("line, problem", [
    ("0 0.5 0.5 0.2", "4 columns, expected 56"),
    ("0 0.5 0.5 0.2 0.4 " + " ".join(["0.5 0.5"] * 17), "looks like kpt_shape [17, 2]"),
    (LINE.replace("0 0.5 0.5 0.2", "0 1.5 0.5 0.2", 1), "outside [0, 1]"),
    ("3" + LINE[1:], "class 3 is not an integer in [0, 0]"),
    (LINE.replace("0.2", "abc", 1), "'abc' is not a number"),
    (LINE[: -len("0.5 0.5 2")] + "0.5 1.2 2", "keypoint 16 (0.5, 1.2) is outside"),
])
def test_a_bad_line_rejects_the_file_and_names_the_line(line: str, problem: str):
    labels, issues = parse_label_text(LINE + "\n" + line + "\n", (17, 3), 1, "x.txt")
    assert labels is None
    assert len(issues) == 1 and issues[0].line == 2 and issues[0].skipped
    assert problem in issues[0].problem
    assert str(issues[0]).startswith("x.txt:2: ")


def test_duplicates_are_dropped_with_a_warning():
    labels, issues = parse_label_text(LINE + "\n" + LINE + "\n", (17, 3), 1, "x.txt")
    assert len(labels) == 1
    assert [(i.line, i.skipped) for i in issues] == [(2, False)]


def test_label_path_replaces_the_last_images_folder():
    assert label_path_for(Path("/d/images/x/images/val/a.jpg")) == Path("/d/images/x/labels/val/a.txt")
    assert label_path_for(Path("/d/pics/a.png")) == Path("/d/pics/a.txt")


def test_broken_dataset_reports_and_skips(coco8_copy: Path, tmp_path: Path):
    root = coco8_copy.parent
    labels = sorted((root / "labels" / "val").glob("*.txt"))
    images = sorted((root / "images" / "val").glob("*.jpg"))
    text = labels[0].read_text().splitlines()
    labels[0].write_text("\n".join([text[0], "0 0.5 0.5"] + text[1:]) + "\n")  # bad line 2
    labels[1].unlink()  # background image
    images[2].write_bytes(b"not a jpeg")  # corrupt image
    ds = load_split(coco8_copy, "val", cache_dir=tmp_path / "cache", progress=False)
    r = ds.report
    assert (r.images_found, r.images_used, r.rejected, r.corrupt, r.backgrounds) == (4, 2, 1, 1, 1)
    assert r.instances == sum(len(s.labels) for s in ds.samples) == len(labels[3].read_text().splitlines())
    lines = ds.report.issue_lines()
    assert lines[0].startswith(f"{labels[0]}:2: 3 columns, expected 56")
    assert lines[1].startswith(f"{images[2]}: corrupt image")
    assert [s.image.name for s in ds.samples] == [images[1].name, images[3].name]
    assert len(ds.samples[0].labels) == 0


def test_cache_is_written_hit_and_invalidated(coco8_copy: Path):
    root = coco8_copy.parent
    first = load_split(coco8_copy, "val", progress=False)
    where = root / "labels" / "val.val.poseexport-cache.json"  # next to the writable labels
    assert first.report.cache == f"written {where}" and where.is_file()
    second = load_split(coco8_copy, "val", progress=False)
    assert second.report.cache == f"hit {where}"
    assert [len(s.labels) for s in second.samples] == [len(s.labels) for s in first.samples]
    np.testing.assert_array_equal(second.samples[0].labels.keypoints, first.samples[0].labels.keypoints)
    label = min((root / "labels" / "val").glob("*.txt"))
    label.write_text(label.read_text().splitlines()[0] + "\n")  # keep only the first person
    third = load_split(coco8_copy, "val", progress=False)
    assert third.report.cache.startswith("written")
    assert len(third.samples[0].labels) == 1


def test_read_only_dataset_caches_in_the_user_cache(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("POSEEXPORT_CACHE_DIR", str(tmp_path / "usercache"))
    labels = tmp_path / "ro" / "labels"
    labels.mkdir(parents=True)
    os.chmod(tmp_path / "ro", 0o555)
    try:
        path = cache_path(labels, "val")
    finally:
        os.chmod(tmp_path / "ro", 0o755)
    assert path.parent == tmp_path / "usercache" / "labels"
    assert path.name.endswith("labels.val.poseexport-cache.json")
