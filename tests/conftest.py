"""Shared fixtures: the real test data (found through $POSEEXPORT_DATA, default ../shared/data)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from poseexport.paths import shared_data_dir


def _pin_tfjs_toolchain() -> None:
    """The TF.js toolchain is made once in the real user cache (python -m poseexport.backends.tfjs_setup):
    name its places explicitly before `private_cache` moves the cache for every test."""
    from poseexport.backends import tfjs_env

    os.environ.setdefault(tfjs_env.PYTHON_ENV, str(tfjs_env.converter_python()))
    os.environ.setdefault(tfjs_env.NODE_DIR_ENV, str(tfjs_env.node_dir()))


_pin_tfjs_toolchain()


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


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Label caches and downloads that would go to the user cache go to a tmp folder instead."""
    monkeypatch.setenv("POSEEXPORT_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))


@pytest.fixture
def coco8_copy(data_dir: Path, tmp_path: Path) -> Path:
    """A writable tmp copy of coco8-pose (the shared folder is read-only); returns the yaml."""
    root = tmp_path / "coco8-pose"
    shutil.copytree(data_dir / "coco8-pose", root)
    for folder, _, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return root / "coco8-pose.yaml"
