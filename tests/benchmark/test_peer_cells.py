"""The peer table's cell vocabulary and its persons rule (benchmarks/peers/), without Ultralytics."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PEERS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers"
sys.path.insert(0, str(PEERS))

from peer_cells import GROUPS, TF_CELLS, Cell, parse_cell, parse_cells  # noqa: E402
from persons_match import match_image, match_persons, summary  # noqa: E402


def test_tf_cells_map_to_ultralytics_exports():
    theirs = {name: parse_cell(name).theirs() for name in TF_CELLS}
    assert theirs == {
        "tflite:fp32": ("litert", "fp32"),
        "tflite:fp16": None,  # Ultralytics writes no fp16 LiteRT
        "tflite:int8:dynamic-range": ("litert", "w8a32"),
        "tflite:int8:full-integer": ("litert", "int8"),
        "tflite:int8:full-integer-io": ("litert", "int8"),
        "tflite:int8:float-keypoints": ("litert", "int8"),
        "saved_model:fp32": ("saved_model", "fp32"),
        "pb:fp32": ("pb", "fp32"),
    }
    assert parse_cell("tflite:int8:full-integer-io:host").theirs() == ("litert", "int8")
    assert parse_cell("torchscript:fp16").theirs() is None
    assert parse_cell("onnx:int8").theirs() == ("onnx", "int8")


def test_our_convert_flags_name_the_int8_kind():
    assert parse_cell("tflite:int8:full-integer-io").ours_convert_args("calib") == [
        "--int8", "--data", "calib", "--int8-kind", "full-integer-io"]
    assert parse_cell("tflite:int8:full-integer:host").ours_convert_args("c") == [
        "--int8", "--data", "c", "--int8-kind", "full-integer", "--decode", "host"]
    assert parse_cell("tflite:int8:full-integer:graph").ours_convert_args("c")[-2:] == ["--decode", "graph"]
    assert parse_cell("tflite:int8:full-integer").ours_convert_args("c")[-1] == "full-integer"  # format's default
    assert parse_cell("tflite:fp16").ours_convert_args("calib") == ["--half"]
    assert parse_cell("saved_model:fp32").ours_convert_args("calib") == []
    assert Cell("tflite", "int8", "dynamic-range").dir_name == "tflite_int8_dynamic-range"


@pytest.mark.parametrize("bad", ["tflite:int8", "tflite:int8:weird", "onnx:int8:full-integer", "saved_model:int8",
                                 "tflite:int8:full-integer:device", "onnx:fp32:host",
                                 "keras:fp32", "onnx:fp8", "onnx"])
def test_bad_cells_are_refused(bad):
    with pytest.raises(ValueError, match=bad.split(":")[0]):
        parse_cell(bad)


def test_groups_expand_in_order_without_repeats():
    cells = parse_cells("onnx:int8,tf,tflite:fp32")
    assert [c.name for c in cells] == ["onnx:int8", *TF_CELLS]
    assert len(parse_cells("all")) == len(GROUPS["core"]) + len(GROUPS["tf"]) == 16


def test_persons_found_missed_invented():
    ref = {"xyxy": [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], "conf": [0.9, 0.8, 0.7]}
    # one exact, one shifted by 2 px (IoU 0.47: not a match), one invented far away, one duplicate of the first
    got = {"xyxy": [[0, 0, 10, 10], [22, 22, 32, 32], [80, 80, 90, 90], [1, 0, 11, 10]],
           "conf": [0.95, 0.9, 0.85, 0.5]}
    assert match_image(ref, got) == {"found": 1, "missed": 2, "invented": 3, "reference": 3, "predicted": 4}
    shifted = {"xyxy": [[21, 21, 31, 31]], "conf": [0.6]}  # IoU 0.68 with the second box
    assert match_image(ref, shifted) == {"found": 1, "missed": 2, "invented": 0, "reference": 3, "predicted": 1}


def test_persons_totals_count_an_image_the_artifact_skipped_as_missed():
    ref = {"a.jpg": {"xyxy": [[0, 0, 10, 10]], "conf": [0.9]}, "b.jpg": {"xyxy": [[0, 0, 5, 5]] * 2, "conf": [.9, .8]}}
    m = match_persons(ref, {"a.jpg": {"xyxy": [[0, 0, 10, 10], [40, 40, 50, 50]], "conf": [0.9, 0.3]}})
    assert (m["found"], m["missed"], m["invented"], m["reference"]) == (1, 2, 1, 3)
    assert m["per_image"]["b.jpg"]["missed"] == 2
    assert summary(m) == "1/2/1" and summary(None) == "—"


def test_compare_refuses_an_unknown_cell_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, str(PEERS / "compare_ultralytics.py"), "--cells", "tflite:int8:bogus",
                           "--sides", "ours", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert "tflite:int8:{dynamic-range,full-integer,full-integer-io,float-keypoints}" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_our_side_reads_a_format_as_available_once_it_is_registered(monkeypatch):
    import compare_ultralytics

    from poseexport.contract.registry import get_backend

    monkeypatch.delenv("POSEEXPORT_EXTRA_BACKENDS", raising=False)
    assert "no 'peer-later' format on this checkout" in compare_ultralytics.ours_unavailable("peer-later")
    assert compare_ultralytics.ours_unavailable("onnx") == ""
    # a format that joins the registry (here a real backend under a new name) is run, not skipped
    monkeypatch.setenv("POSEEXPORT_EXTRA_BACKENDS", "peer-later=poseexport.backends.onnx:OnnxBackend")
    get_backend.cache_clear()
    try:
        assert compare_ultralytics.ours_unavailable("peer-later") == ""
    finally:
        get_backend.cache_clear()


def test_merge_takes_ours_and_theirs_from_their_runs_and_shares_one_export():
    import compare_ultralytics

    settings = {"threads": [1], "imgsz": 640}
    ok = lambda v: {"status": "ok", "pose_map50_95": v, "latency": {"1": {"p50_ms": 10 * v}}}  # noqa: E731
    skipped = {"status": "skipped"}
    ours = {"when": "a", "host": "h", "note": "", "settings": settings, "reference": {"ours": {"pose_map50_95": 0.53}},
            "cells": [{"cell": n, "ours": ok(v), "theirs": skipped} for n, v in
                      (("tflite:int8:full-integer:host", 0.52), ("tflite:fp16", 0.53), ("pb:fp32", 0.53))]}
    theirs = {"when": "b", "host": "h", "note": "", "settings": settings, "versions": {"ultralytics": "8.4.190"},
              "reference": {"theirs": {"pose_map50_95": 0.52}},
              "cells": [{"cell": "tflite:int8:full-integer", "ours": skipped, "theirs": ok(0.30)}]}
    merged = compare_ultralytics.merge_reports(ours, theirs)
    rows = {c["cell"]: c for c in merged["cells"]}
    assert rows["tflite:int8:full-integer:host"]["theirs"]["pose_map50_95"] == 0.30
    assert rows["tflite:int8:full-integer:host"]["theirs"]["same_as"] == "tflite:int8:full-integer"
    assert rows["tflite:int8:full-integer:host"]["ratio"]["pose_map50_95"] == pytest.approx(0.52 / 0.30)
    assert rows["tflite:fp16"]["theirs"]["status"] == "unsupported"
    assert rows["pb:fp32"]["theirs"]["status"] == "skipped"
    assert merged["reference"] == {"ours": {"pose_map50_95": 0.53}, "theirs": {"pose_map50_95": 0.52}}
    assert "| tflite:int8:full-integer:host |" in compare_ultralytics.markdown(merged)
