"""An installed poseexport (a non-editable wheel, no repository, no test data folder) validates an
export on the reference photos it ships, and finds real persons there, never noise."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from poseexport.validate.reference_images import PACKAGED_DIR

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "poseexport", "backends", "model_zoo")
PHOTOS = sorted(p.name for p in PACKAGED_DIR.glob("*.jpg"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """poseexport built as a wheel from a copy of its sources (offline), installed into a folder."""
    root = tmp_path_factory.mktemp("installed")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:  # a copy, so the build writes nothing into the working tree
        item = ROOT / name
        copy = shutil.copytree if item.is_dir() else shutil.copy
        copy(item, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if item.is_dir() else {}))
    run = {"capture_output": True, "text": True, "check": False}
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(root / "wheel"), str(src)], **run)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "wheel").glob("poseexport-*.whl")
    site = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--target", str(site), str(wheel)], **run)
    assert done.returncode == 0, done.stderr[-3000:]
    return wheel, site


def env_for(site: Path, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSEEXPORT_")}
    env.update(PYTHONPATH=str(site), POSEEXPORT_DATA=str(tmp_path / "no-such-data"),
               POSEEXPORT_CACHE_DIR=str(tmp_path / "cache"))
    return env


def test_the_wheel_ships_the_photos_and_their_attribution(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert len(PHOTOS) == 5
    for photo in PHOTOS + ["ATTRIBUTION.md"]:
        assert f"poseexport/reference_images/{photo}" in names
    attribution = (PACKAGED_DIR / "ATTRIBUTION.md").read_text()
    for photo in PHOTOS:
        assert photo in attribution
    assert attribution.count("http://creativecommons.org/licenses/by/2.0/") >= 5
    assert sum((PACKAGED_DIR / p).stat().st_size for p in PHOTOS) < 400_000


@pytest.mark.slow
def test_export_outside_the_repository_validates_on_real_persons(installed, official_pt, tmp_path):
    _, site = installed
    env = env_for(site, tmp_path)
    where = subprocess.run([sys.executable, "-c", "import poseexport; print(poseexport.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(site)  # the installed copy, not the repository's
    out = tmp_path / "onnx"
    proc = subprocess.run([sys.executable, "-m", "poseexport", "convert", "--format", "onnx",
                           "--model", str(official_pt), "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    validation = json.loads((out / "metadata.json").read_text())["validation"]
    assert validation["image_names"] == [f"poseexport/reference_images/{p}" for p in PHOTOS]
    assert validation["passed"] and validation["persons_compared"]
    # measured: 10 persons on the five photos (1, 4, 2, 1, 2), every one matched
    assert validation["stats"]["persons_reference"] == 10 and validation["stats"]["persons_matched"] == 10
    rows = {c["name"]: c for c in validation["checks"]}
    assert rows["persons missed"]["value"] == 0 and rows["persons invented"]["value"] == 0
    golden = json.loads((out / "manifest.json").read_text())["golden"]
    assert golden["images"] == validation["image_names"] and golden["persons"] == 10
    printed = proc.stdout + proc.stderr
    assert "images in poseexport/reference_images/: coco_val2017_000000000785.jpg, " in printed
    assert "✓ persons missed                          0    (limit 0)  of 10 reference persons" in printed
