"""Every status maps to the right JUnit outcome and appears in the table, with its reason."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from poseexport.benchmark import spec as S
from poseexport.benchmark.baseline import failures
from poseexport.benchmark.report import write_all


def results_with_every_status() -> dict:
    rows = [{"cell": f"fmt{i}-fp32", "format": f"fmt{i}", "precision": "fp32", "status": status,
             "stage": "export", "error": f"why {status}", "host": "Linux-x86_64", "wall_s": 1.0}
            for i, status in enumerate(S.STATUSES)]
    rows[0]["regressions"] = [{"kind": "latency", "what": "p50 1.00 -> 2.00 ms"}]
    return {"rows": rows, "options": {"model": "m.pt", "imgsz": [64, 64]}, "host": {"label": "Linux-x86_64"},
            "command": ["poseexport", "benchmark"], "regressions": [{"cell": "fmt0-fp32", "kind": "latency",
                                                                    "what": "p50 1.00 -> 2.00 ms"}]}


def test_junit_outcomes_per_status(tmp_path):
    write_all(results_with_every_status(), tmp_path)
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    outcome = {}
    for case in suite.findall("testcase"):
        kinds = [child.tag for child in case if child.tag != "system-out"]
        outcome[case.get("name").split("-")[0]] = kinds[0] if kinds else "pass"
    by_status = {status: outcome[f"fmt{i}"] for i, status in enumerate(S.STATUSES)}
    assert by_status == {"ok": "failure",  # it regressed against the baseline
                         "unsupported": "skipped", "export failed": "error", "load failed": "error",
                         "parity failed": "failure", "accuracy failed": "failure", "timed out": "error",
                         "crashed": "error", "out of memory": "error"}
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("3", "5", "1")
    table = (tmp_path / "results.md").read_text()
    assert "- **fmt7-fp32** (crashed): why crashed" in table and "regression (latency)" in table


def test_fail_on_selects_what_fails():
    results = results_with_every_status()
    assert len(failures(results, ("error",))) == 5
    assert failures(results, ("parity",)) == ["fmt4-fp32: parity failed"]
    assert failures(results, ("accuracy",)) == ["fmt5-fp32: accuracy failed"]
    assert failures(results, ("regression",)) == ["fmt0-fp32: regression: p50 1.00 -> 2.00 ms"]
    assert failures(results, ()) == []
