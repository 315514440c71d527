"""The harness itself: a good artifact predicts cleanly, so a failure elsewhere means something."""
from __future__ import annotations

from cli_harness import run_cli


def test_a_good_artifact_predicts(tiny_artifact, data_dir, tmp_path):
    result = run_cli("predict", "--model", tiny_artifact, "--source", data_dir / "images" / "bus.jpg",
                     "--json", tmp_path / "out.json")
    assert result.returncode == 0, result.output
    assert (tmp_path / "out.json").is_file()
