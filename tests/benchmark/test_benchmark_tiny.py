"""`poseexport benchmark` on the tiny network: every cell ok, its figures sane, the five files.

One real run (torchscript, onnx, openvino at fp32, val on coco8-pose) through the CLI, each
cell in its own process; see conftest.py. The untrained network is built from seed 0 in every
cell, so every fp32 artifact must reproduce the PyTorch row's mAP.
"""
from __future__ import annotations

import csv
import math
import xml.etree.ElementTree as ET

import pytest

CELLS = ("pytorch-fp32", "torchscript-fp32", "onnx-fp32", "openvino-fp32")
EXPORTED = CELLS[1:]


def test_every_cell_ok_and_exit_zero(tiny_run):
    rows = tiny_run.results["rows"]
    assert [r["cell"] for r in rows] == list(CELLS)
    assert {r["cell"]: r["status"] for r in rows} == dict.fromkeys(CELLS, "ok"), tiny_run.stderr[-3000:]
    assert tiny_run.code == 0


@pytest.mark.parametrize("cell", EXPORTED)
def test_export_load_size_memory_figures(tiny_run, cell):
    row = tiny_run.row(cell)
    assert 0 < row["export_s"] < 300 and 0 < row["load_s"] < 60 and row["first_infer_ms"] > 0
    assert 0.3 < row["size_mb"] < 5.0  # 0.35 M parameters in fp32, plus sidecars and golden vector
    assert 100 < row["peak_rss_mb"] < 8000  # torch and the runtime are loaded: never a few MB
    assert row["wall_s"] >= row["export_s"]
    assert row["toolchain"]["torch"]


@pytest.mark.parametrize("cell", EXPORTED)
def test_parity_and_golden_vector_pass(tiny_run, cell):
    row = tiny_run.row(cell)
    stats = row["parity"]["stats"]
    assert row["parity"]["passed"] and row["golden"]["passed"]
    assert stats["kpt_xy_max"] < 0.05 and stats["box_max"] < 0.05  # fp32: pixels of a 64 px input
    assert {c["name"] for c in row["golden"]["checks"]} >= {"box max error", "keypoint max error"}


@pytest.mark.parametrize("cell", EXPORTED)
def test_map_equals_the_pytorch_row(tiny_run, cell):
    ref, row = tiny_run.row("pytorch-fp32")["val"], tiny_run.row(cell)
    assert row["val"]["images"] == ref["images"] == 4
    assert ref["box_map50-95"] > 0.0  # seed 0 finds a few boxes: a non-trivial number to agree on
    for key in ("pose_map50-95", "box_map50-95", "box_map50"):
        assert 0.0 <= row["val"][key] <= 1.0
        assert abs(row["delta"][key]) < 1e-3, (key, row["val"][key], ref[key])
    assert row["accuracy"]["passed"] and row["accuracy"]["max_drop"] == 0.005


@pytest.mark.parametrize("cell", CELLS)
def test_latency_after_warmup_per_thread_setting(tiny_run, cell):
    results = tiny_run.results
    entries = tiny_run.row(cell)["latency"]
    cores = results["host"]["cores"]
    assert sorted(e["threads"] for e in entries) == sorted({1, cores})
    for e in entries:
        assert e["batch"] == 1 and e["warmup"] >= 1 and 5 <= e["runs"] <= 10
        assert 0 < e["min_ms"] <= e["p50_ms"] <= e["p90_ms"] <= e["p99_ms"] < 5000
        assert math.isclose(e["fps"], 1000.0 / e["p50_ms"], rel_tol=1e-6)


def test_host_toolchain_and_command_recorded(tiny_run):
    results = tiny_run.results
    host = results["host"]
    assert host["cpu"] and host["cores"] >= 1 and host["system"] and host["label"]
    assert {"torch", "onnxruntime", "openvino", "numpy"} <= set(results["toolchain"])
    assert "benchmark" in results["command"] and results["options"]["imgsz"] == [64, 64]
    assert results["wall_s"] >= sum(r["wall_s"] for r in results["rows"]) * 0.99


def test_five_outputs_written(tiny_run):
    out = tiny_run.out
    for name in ("results.json", "results.csv", "results.md", "junit.xml", "results.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 100, name
    with open(out / "results.csv") as f:
        lines = list(csv.DictReader(f))
    assert [r["cell"] for r in lines] == list(CELLS) and {r["status"] for r in lines} == {"ok"}
    assert float(lines[2]["p50_ms_b1_t1"]) > 0 and lines[2]["parity_passed"] == "True"
    suite = ET.parse(out / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("4", "0", "0", "0")
    assert len(suite.findall("testcase")) == 4
    table = (out / "results.md").read_text()
    assert all(f"| {c} | ok |" in table for c in CELLS)
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for cell in EXPORTED:  # the artifacts stay for inspection, each with its golden vector
        assert (out / "artifacts" / cell / "golden.npz").is_file()
