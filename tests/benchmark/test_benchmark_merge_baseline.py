"""`benchmark merge` joins CI cells; `--baseline` flags regressions beyond the stated thresholds
(and only those); the exit status follows `--fail-on`. No new cells run here: the inputs are the
JSON files of the two real runs in conftest.py."""
from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from poseexport.cli.main import main as cli_main


@dataclass
class Merged:
    returncode: int
    stdout: str
    stderr: str


def merge(args, capsys) -> Merged:
    """`poseexport benchmark merge ...` in this process (merging runs no cell)."""
    capsys.readouterr()
    code = cli_main(["benchmark", "merge", *map(str, args)])
    out = capsys.readouterr()
    return Merged(code, out.out, out.err)


def test_merge_joins_cells_of_two_runs(tiny_run, crash_run, tmp_path, capsys):
    out = tmp_path / "merged"
    proc = merge([tiny_run.json_path, crash_run.json_path, "--out", out, "--fail-on", "none"], capsys)
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((out / "results.json").read_text())
    cells = [r["cell"] for r in merged["rows"]]
    # one PyTorch row per host (both runs share this host), every other cell once
    assert cells == ["pytorch-fp32", "torchscript-fp32", "onnx-fp32", "openvino-fp32", "segfault-fp32", "hang-fp32"]
    assert {r["cell"]: r["status"] for r in merged["rows"]}["hang-fp32"] == "timed out"
    assert merged["rows"][2] == tiny_run.row("onnx-fp32")  # figures carried over untouched
    assert merged["merged_from"] == [str(tiny_run.json_path), str(crash_run.json_path)]
    suite = ET.parse(out / "junit.xml").getroot()
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("6", "2", "0")
    assert (out / "results.png").is_file() and "| hang-fp32 | timed out |" in (out / "results.md").read_text()


def test_merge_exit_status_follows_fail_on(tiny_run, crash_run, tmp_path, capsys):
    both = [tiny_run.json_path, crash_run.json_path]
    assert merge([*both, "--out", tmp_path / "a"], capsys).returncode == 1  # crashed + timed out are errors
    assert merge([*both, "--out", tmp_path / "b", "--fail-on", "parity,accuracy"], capsys).returncode == 0
    assert merge([tiny_run.json_path, "--out", tmp_path / "c"], capsys).returncode == 0


def test_baseline_flags_doctored_regressions_only(tiny_run, tmp_path, capsys):
    results = tiny_run.results
    baseline = copy.deepcopy(results)
    rows = {r["cell"]: r for r in baseline["rows"]}
    slow = max((e for c in ("torchscript-fp32", "onnx-fp32", "openvino-fp32") for e in rows[c]["latency"]),
               key=lambda e: e["p50_ms"])
    cell_slow = next(c for c in rows if slow in (rows[c].get("latency") or []))
    assert slow["p50_ms"] * 0.75 >= 0.5, "needs a latency above the 0.5 ms floor"
    slow["p50_ms"] /= 4  # the baseline was 4x faster: now +300 %
    rows["openvino-fp32"]["val"]["pose_map50-95"] += 0.02  # the baseline was 0.02 more accurate
    rows["onnx-fp32"]["size_mb"] /= 2  # the artifact doubled
    doctored = tmp_path / "baseline.json"
    doctored.write_text(json.dumps(baseline))
    out = tmp_path / "cmp"
    proc = merge([tiny_run.json_path, "--baseline", doctored, "--out", out], capsys)
    assert proc.returncode == 1, proc.stderr
    found = json.loads((out / "results.json").read_text())["regressions"]
    assert sorted((r["cell"], r["kind"]) for r in found) == sorted(
        [(cell_slow, "latency"), ("openvino-fp32", "accuracy"), ("onnx-fp32", "size")])
    assert "regression" in proc.stdout and "+300 %" in next(r["what"] for r in found if r["kind"] == "latency")
    assert "regression (accuracy)" in (out / "results.md").read_text()
    assert merge([tiny_run.json_path, "--baseline", doctored, "--out", out, "--fail-on", "error"], capsys).returncode == 0


def test_baseline_against_itself_finds_nothing(tiny_run, tmp_path, capsys):
    out = tmp_path / "same"
    proc = merge([tiny_run.json_path, "--baseline", tiny_run.json_path, "--out", out], capsys)
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((out / "results.json").read_text())
    assert merged["regressions"] == [] and merged["baseline"]["thresholds"]["latency_increase"] == 0.10


def test_a_baseline_status_change_is_a_regression(tiny_run, crash_run, tmp_path, capsys):
    baseline = copy.deepcopy(crash_run.results)
    for row in baseline["rows"]:
        row["status"] = "ok"  # pretend the crashing cells used to pass
    doctored = tmp_path / "baseline.json"
    doctored.write_text(json.dumps(baseline))
    proc = merge([crash_run.json_path, "--baseline", doctored, "--out", tmp_path / "o", "--fail-on", "regression"], capsys)
    assert proc.returncode == 1
    found = json.loads((tmp_path / "o" / "results.json").read_text())["regressions"]
    assert {(r["cell"], r["what"]) for r in found} >= {("segfault-fp32", "status ok -> crashed"),
                                                       ("hang-fp32", "status ok -> timed out")}


def test_unreadable_baseline_is_a_user_error(tiny_run, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    proc = merge([tiny_run.json_path, "--baseline", bad, "--out", tmp_path / "x"], capsys)
    assert proc.returncode == 2 and "is not a poseexport benchmark result" in proc.stderr
