"""In-process checks behind the bad-input suite: the one device parser, the memory estimate,
and predict's errors="report" keeping the source order with batches."""
from __future__ import annotations

import shutil

import pytest

from poseexport import PoseModel
from poseexport.device import Device, parse_device
from poseexport.errors import BadInputError, UnsupportedOptionError
from poseexport.predict.imgsz_limits import (
    BYTES_PER_PIXEL,
    check_fits_in_memory,
    estimated_bytes,
)


@pytest.mark.parametrize("text, expected", [
    ("cpu", Device("cpu")), ("CPU", Device("cpu")), ("cuda", Device("cuda", 0)), ("gpu", Device("cuda", 0)),
    ("0", Device("cuda", 0)), ("cuda:3", Device("cuda", 3)), (" cuda:1 ", Device("cuda", 1)),
])
def test_device_parser_accepts(text, expected):
    assert parse_device(text) == expected
    assert str(parse_device(text)) in ("cpu", f"cuda:{expected.index}")


@pytest.mark.parametrize("text", ["tpu", "cuda:x", "mps", "", "cuda:-1", "xla:0"])
def test_device_parser_refuses_with_the_choices(text):
    with pytest.raises(UnsupportedOptionError, match="valid choices: cpu, cuda, cuda:N"):
        parse_device(text)


def test_memory_estimate_is_linear_in_pixels_and_batch():
    assert estimated_bytes(640) == 640 * 640 * BYTES_PER_PIXEL
    assert estimated_bytes((480, 640), batch=4) == 4 * 480 * 640 * BYTES_PER_PIXEL
    check_fits_in_memory(640)  # 32 MB fits anywhere this suite runs
    with pytest.raises(UnsupportedOptionError, match="does not fit in memory") as err:
        check_fits_in_memory(100_000, batch=2)
    assert "at most about" in str(err.value) and "smaller --batch" in str(err.value)


def test_report_mode_keeps_the_order_around_a_bad_file(data_dir, tmp_path):
    for i, name in enumerate(["bus.jpg", "zidane.jpg"]):
        shutil.copy(data_dir / "images" / name, tmp_path / f"{i * 2}_{name}")
    (tmp_path / "1_bad.jpg").write_bytes(b"not an image")
    model = PoseModel("posenet-test")
    results = model.predict(tmp_path, imgsz=64, batch=2, errors="report")
    assert [r.path.split("/")[-1] for r in results] == ["0_bus.jpg", "1_bad.jpg", "2_zidane.jpg"]
    assert [bool(r.error) for r in results] == [False, True, False]
    assert results[1].to_dict() == {"image": results[1].path, "error": results[1].error, "persons": []}
    assert len(results[1]) == 0 and "error" in repr(results[1])
    with pytest.raises(BadInputError, match="1_bad.jpg"):
        model.predict(tmp_path, imgsz=64)  # the default still raises
