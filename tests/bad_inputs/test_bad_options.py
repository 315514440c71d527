"""Options that cannot be honoured, through the real CLI: unknown or unavailable devices,
opsets the exporter cannot write, options a format does not use, sizes that cannot fit in
memory, outputs that are files or unwritable, INT8 without usable calibration images. Each is
refused before any work, and nothing is left behind."""
from __future__ import annotations

import shutil

import pytest
from cli_harness import assert_clean_failure, run_cli, snapshot


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _convert(tmp_path, *args: str):
    """convert of the tiny network, run in tmp_path so any leftover would show in its snapshot."""
    return run_cli("convert", "--model", "posenet-test", "--imgsz", "64", "--out", tmp_path / "art", *args,
                   cwd=tmp_path)


@pytest.mark.parametrize("command", ["predict-artifact", "predict-pytorch", "selftest", "convert"])
def test_unknown_device_lists_the_choices(tiny_artifact, data_dir, tmp_path, command):
    bus = data_dir / "images" / "bus.jpg"
    args = {"predict-artifact": ("predict", "--model", tiny_artifact, "--source", bus),
            "predict-pytorch": ("predict", "--model", "posenet-test", "--source", bus),
            "selftest": ("selftest", tiny_artifact),
            "convert": ("convert", "--model", "posenet-test", "--format", "onnx", "--out", tmp_path / "a")}[command]
    before = snapshot(tmp_path)
    assert_clean_failure(run_cli(*args, "--device", "tpu", cwd=tmp_path), "Unknown device 'tpu'",
                         "valid choices: cpu, cuda, cuda:N")
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA: cuda:0 is honoured")
def test_cuda_on_an_onnx_artifact_is_refused_not_run_on_cpu(tiny_artifact, data_dir, tmp_path):
    out = tmp_path / "out.json"
    result = run_cli("predict", "--model", tiny_artifact, "--source", data_dir / "images" / "bus.jpg",
                     "--device", "cuda:0", "--json", out)
    assert_clean_failure(result, "ONNX Runtime cannot run this artifact on cuda:0", "CPUExecutionProvider",
                         "--device cpu")
    assert not out.exists()


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA: cuda:0 is honoured")
def test_cuda_in_selftest_is_refused(tiny_artifact):
    assert_clean_failure(run_cli("selftest", tiny_artifact, "--device", "cuda:0"), "cannot run", "cuda:0")


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA: cuda:0 is honoured")
def test_cuda_for_a_pytorch_model_without_cuda(data_dir):
    result = run_cli("predict", "--model", "posenet-test", "--source", data_dir / "images" / "bus.jpg",
                     "--device", "cuda:0")
    assert_clean_failure(result, "cuda:0", "sees no CUDA GPU", "--device cpu")


@pytest.mark.parametrize("opset", ["99", "12"])
def test_opset_the_exporter_cannot_write(tmp_path, opset):
    before = snapshot(tmp_path)
    result = _convert(tmp_path, "--format", "onnx", "--opset", opset, "--no-validate")
    assert_clean_failure(result, f"ONNX opset {opset} cannot be exported", "writes opsets 18 to")
    assert "PASSED" not in result.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("fmt, option, words", [
    ("torchscript", ("--opset", "18"), ("TorchScript export does not use --opset", "torchscript takes: --mobile")),
    ("openvino", ("--opset", "18"), ("OpenVINO export does not use --opset", "openvino takes: --no-simplify")),
    ("onnx", ("--mobile",), ("ONNX export does not use --mobile", "onnx takes: --opset, --no-simplify")),
    ("torchscript", ("--no-simplify",), ("does not use --no-simplify", "onnx or openvino")),
], ids=["opset-torchscript", "opset-openvino", "mobile-onnx", "no-simplify-torchscript"])
def test_option_the_format_does_not_use(tmp_path, fmt, option, words):
    before = snapshot(tmp_path)
    assert_clean_failure(_convert(tmp_path, "--format", fmt, *option), *words)
    assert snapshot(tmp_path) == before


def test_unknown_format_suggests_the_close_one(tmp_path):
    assert_clean_failure(_convert(tmp_path, "--format", "onxx"), "Unknown export format 'onxx'",
                         "did you mean: onnx")


def test_int8_without_data(tmp_path):
    assert_clean_failure(_convert(tmp_path, "--format", "onnx", "--int8"), "INT8 export needs calibration images",
                         "--data")


def test_int8_with_an_empty_calibration_folder(tmp_path):
    (tmp_path / "calib").mkdir()
    before = snapshot(tmp_path)
    # with --force, the option the message used to suggest for "0 images", which then failed too
    result = _convert(tmp_path, "--format", "onnx", "--int8", "--data", tmp_path / "calib", "--force")
    assert_clean_failure(result, "No calibration images were found", "looked in:", str(tmp_path / "calib"))
    assert "--force" not in result.stderr  # --force cannot help when there are none
    assert snapshot(tmp_path) == before


def test_half_with_int8(tmp_path):
    assert_clean_failure(_convert(tmp_path, "--format", "onnx", "--half", "--int8", "--data", tmp_path),
                         "--half and --int8 were both given")


@pytest.mark.parametrize("command", ["predict", "val"])
def test_image_size_that_cannot_fit_in_memory(tiny_artifact, data_dir, coco8_copy, command):
    model_args = ("--model", "posenet-test", "--imgsz", "100000")
    args = ("--source", data_dir / "images" / "bus.jpg") if command == "predict" else ("--data", coco8_copy)
    assert_clean_failure(run_cli(command, *model_args, *args), "100000x100000 does not fit in memory",
                         "GB", "is available", "at most about")


def test_save_to_an_existing_file(data_dir, tmp_path):
    target = tmp_path / "picture.jpg"
    target.write_bytes(b"the user's own file")
    before = snapshot(tmp_path)
    result = run_cli("predict", "--model", "posenet-test", "--source", data_dir / "images" / "bus.jpg",
                     "--save", target)
    assert_clean_failure(result, "is an existing file", "--save names a folder")
    assert snapshot(tmp_path) == before


def test_save_would_overwrite_existing_files(tiny_artifact, data_dir, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(data_dir / "images", photos)
    before = snapshot(tmp_path)
    result = run_cli("predict", "--model", tiny_artifact, "--source", photos, "--save", photos)
    assert_clean_failure(result, "already holds 2 of the files", "never overwrites", "bus.jpg")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["under-a-file", "a-folder", "proc"])
def test_json_into_a_place_that_cannot_be_written(tiny_artifact, data_dir, tmp_path, where):
    (tmp_path / "file.txt").write_text("x")
    target = {"under-a-file": tmp_path / "file.txt" / "out.json", "a-folder": tmp_path,
              "proc": "/proc/poseexport-out.json"}[where]
    before = snapshot(tmp_path)
    result = run_cli("predict", "--model", tiny_artifact, "--source", data_dir / "images" / "bus.jpg",
                     "--json", target)
    assert_clean_failure(result, "--json", "cannot be written" if where != "a-folder" else "is a folder")
    assert snapshot(tmp_path) == before
