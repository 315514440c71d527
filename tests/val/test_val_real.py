"""yolo11n-pose on the real data: coco8-pose, and coco-val-pose against the reference numbers.

References (shared/data/README.md §3): the official COCO evaluator on the reference
implementation's predictions gives keypoint AP 0.4895 / box AP 0.5942 with minimal
rectangles (its .pt predict) and 0.5071 / 0.6138 at a fixed 640x640 (its ONNX); its
own val (rectangular batches with half a stride of extra padding) reports pose
mAP50-95 0.527 and box 0.750.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from poseexport.cli.main import main
from poseexport.metrics import COCO_KPT_SIGMAS
from poseexport.model import PoseModel
from poseexport.val.coco_eval import evaluate_coco

HAS_OFFICIAL = any(importlib.util.find_spec(m) for m in ("faster_coco_eval", "pycocotools"))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """On a busy 2-core CI box, 2 spinning intra-op threads run ~7x slower than 1 (measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model(official_pt: Path) -> PoseModel:
    return PoseModel(str(official_pt))


def test_coco8_pose_val(model: PoseModel, data_dir: Path):
    yaml_path = data_dir / "coco8-pose" / "coco8-pose.yaml"
    m = model.val(yaml_path, progress=False)
    assert model.data == str(yaml_path)
    assert (m.images, m.instances, m.coco) == (4, 14, None)
    assert m.box.map == pytest.approx(0.738, abs=0.002)
    assert m.pose.map == pytest.approx(0.360, abs=0.002)
    assert m.pose.map50 == pytest.approx(0.722, abs=0.002)


@pytest.fixture(scope="module")
def coco_runs(model: PoseModel, data_dir: Path, tmp_path_factory) -> dict:
    """coco-val-pose three ways: minimal rectangles, fixed square, the reference loader's shapes."""
    yaml_path = data_dir / "coco-val-pose" / "coco-val-pose.yaml"
    rect_json = tmp_path_factory.mktemp("coco") / "rect.json"
    return {"rect": model.val(yaml_path, rect=True, json_path=rect_json, progress=False),
            "square": model.val(yaml_path, rect=False, progress=False),
            "loader": model.val(yaml_path, rect=True, rect_pad=0.5, progress=False),
            "rect_json": rect_json}


@pytest.mark.slow
def test_coco_val_pose_agrees_with_the_reference_numbers(coco_runs):
    rect, square, loader = coco_runs["rect"], coco_runs["square"], coco_runs["loader"]
    for run in (rect, square, loader):
        assert (run.images, run.instances, run.coco.images) == (36, 80, 36)
    # the reference predictions' official numbers (same letterbox, same predictions)
    assert rect.coco.ours_pose.ap == pytest.approx(0.4895, abs=0.002)
    assert rect.coco.ours_box.ap == pytest.approx(0.5942, abs=0.002)
    assert square.coco.ours_pose.ap == pytest.approx(0.5071, abs=0.002)
    assert square.coco.ours_box.ap == pytest.approx(0.6138, abs=0.002)

    # the YOLO-style metric against the reference val (0.527 pose, 0.750 box)
    assert loader.pose.map == pytest.approx(0.527, abs=0.01)
    assert loader.box.map == pytest.approx(0.750, abs=0.01)
    assert rect.pose.map == pytest.approx(0.527, abs=0.01)
    assert square.pose.map == pytest.approx(0.527, abs=0.01)
    # without the loader's extra padding the boxes come out ~0.017 lower (its letterbox, not the metric)
    assert rect.box.map == pytest.approx(0.733, abs=0.005)


@pytest.mark.slow
@pytest.mark.skipif(not HAS_OFFICIAL, reason="neither faster-coco-eval nor pycocotools is installed "
                                             "(pip install 'poseexport[eval]')")
def test_coco_protocol_equals_the_official_evaluator(coco_runs, data_dir: Path):
    for name in ("rect", "square", "loader"):  # ours and the official evaluator, same predictions
        run = coco_runs[name]
        assert run.coco.ours_pose.ap == pytest.approx(run.coco.official_pose.ap, abs=1e-9)
        assert run.coco.ours_box.ap == pytest.approx(run.coco.official_box.ap, abs=1e-9)


@pytest.mark.slow
@pytest.mark.skipif(not importlib.util.find_spec("pycocotools"), reason="pycocotools is not installed "
                                                                        "(pip install 'poseexport[eval]')")
def test_pycocotools_agrees_too(coco_runs, data_dir: Path):
    gt_path = data_dir / "coco-val-pose" / "annotations" / "person_keypoints_subset.json"
    gt = json.loads(gt_path.read_text())
    preds = json.loads(coco_runs["rect_json"].read_text())
    other = evaluate_coco(gt, gt_path, preds, [im["id"] for im in gt["images"]], COCO_KPT_SIGMAS,
                          "pycocotools")
    assert other.official_pose.ap == pytest.approx(coco_runs["rect"].coco.ours_pose.ap, abs=1e-9)


def test_cli_val(official_pt: Path, data_dir: Path, capsys):
    code = main(["val", "--model", str(official_pt), "--data",
                 str(data_dir / "coco8-pose" / "coco8-pose.yaml"), "--report", "-", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    table, report = out.split("\n{", 1)
    assert table.splitlines()[1].split()[:3] == ["box", "4", "14"]
    assert json.loads("{" + report)["pose"]["map50-95"] == pytest.approx(0.360, abs=0.002)
    code = main(["val", "--model", str(official_pt), "--data", "missing.yaml"])
    assert code == 2
    assert "The dataset yaml missing.yaml does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_onnx_runtime_is_evaluated_by_the_same_code(official_onnx: Path, data_dir: Path):
    ort = pytest.importorskip("onnxruntime")
    from poseexport.val import ValOptions, validate

    session = ort.InferenceSession(str(official_onnx), providers=["CPUExecutionProvider"])
    m = validate(lambda batch: session.run(None, {"images": batch})[0],
                 data_dir / "coco-val-pose" / "coco-val-pose.yaml", ValOptions(progress=False),
                 names={0: "person"}, kpt_shape=(17, 3))
    # the reference ONNX numbers (fixed 640x640), README §3
    assert m.coco.ours_pose.ap == pytest.approx(0.5071, abs=0.002)
    assert m.coco.ours_box.ap == pytest.approx(0.6138, abs=0.002)
    assert m.pose.map == pytest.approx(0.527, abs=0.01)
