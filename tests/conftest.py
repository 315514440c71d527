"""Shared fixtures: the real test data (found through $POSEEXPORT_DATA, default ../shared/data)."""
from __future__ import annotations

from pathlib import Path

import pytest

from poseexport.paths import shared_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = shared_data_dir()
    if not (root / "weights" / "yolo11n-pose.pt").is_file():
        pytest.skip(f"shared test data not found at {root}: set POSEEXPORT_DATA to the data folder")
    return root


@pytest.fixture(scope="session")
def official_pt(data_dir: Path) -> Path:
    return data_dir / "weights" / "yolo11n-pose.pt"


@pytest.fixture(scope="session")
def official_onnx(data_dir: Path) -> Path:
    return data_dir / "weights" / "yolo11n-pose.onnx"
