"""Bad input reaches the user as one clear paragraph and a non-zero exit, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {}), "POSEEXPORT_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "poseexport", *args], capture_output=True,
                          text=True, timeout=180, env=full_env)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_missing_source(tmp_path):
    proc = run_cli("predict", "--model", "posenet-test", "--source", str(tmp_path / "nope.jpg"))
    assert_user_error(proc, "does not exist")


def test_corrupt_image(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    proc = run_cli("predict", "--model", "posenet-test", "--source", str(bad))
    assert_user_error(proc, "broken.jpg")


def test_text_file_is_not_an_image(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    proc = run_cli("predict", "--model", "posenet-test", "--source", str(text))
    assert_user_error(proc, "notes.txt")


def test_empty_folder(tmp_path):
    proc = run_cli("predict", "--model", "posenet-test", "--source", str(tmp_path))
    assert_user_error(proc, str(tmp_path))


def test_unknown_model_name_suggests(tmp_path):
    proc = run_cli("predict", "--model", "yolo11n-pos.pt", "--source", str(tmp_path))
    assert_user_error(proc, "yolo11n-pose.pt")


def test_missing_weights_say_where_to_put_them(tmp_path):
    env = {"POSEEXPORT_WEIGHTS_DIR": str(tmp_path / "w"), "POSEEXPORT_CACHE_DIR": str(tmp_path / "c")}
    proc = run_cli("info", "--model", "yolo11s-pose.pt", env=env)
    assert_user_error(proc, str(tmp_path / "w"), str(tmp_path / "c"))


def test_imgsz_not_multiple_of_stride(data_dir):
    proc = run_cli("predict", "--model", "posenet-test", "--source",
                   str(data_dir / "images" / "bus.jpg"), "--imgsz", "100")
    assert_user_error(proc, "multiple of the model stride 32")


def test_bad_argument_value_is_argparse_error():
    proc = run_cli("predict", "--source", "x.jpg", "--conf", "1.5")
    assert proc.returncode == 2 and "outside [0, 1]" in proc.stderr


def test_no_command_prints_help():
    proc = run_cli()
    assert proc.returncode == 2 and "predict" in proc.stdout


@pytest.mark.slow
def test_predict_folder_json_and_annotated_images(tmp_path, data_dir):
    out, js = tmp_path / "out", tmp_path / "pred.json"
    proc = run_cli("predict", "--source", str(data_dir / "images"), "--save", str(out),
                   "--json", str(js), env={"POSEEXPORT_WEIGHTS_DIR": str(data_dir / "weights")})
    assert proc.returncode == 0, proc.stderr
    import json

    records = json.loads(js.read_text())
    assert [os.path.basename(r["image"]) for r in records] == ["bus.jpg", "zidane.jpg"]
    counts = [len(r["persons"]) for r in records]
    assert counts == [4, 2]
    person = records[0]["persons"][0]
    assert len(person["box"]) == 4 and len(person["keypoints"]) == 17
    assert all(len(k) == 3 for k in person["keypoints"])
    x1, y1, x2, y2 = person["box"]
    assert 0 <= x1 < x2 <= 810 and 0 <= y1 < y2 <= 1080  # original bus.jpg pixels
    assert sorted(p.name for p in out.iterdir()) == ["bus.jpg", "zidane.jpg"]
