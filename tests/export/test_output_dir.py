"""--out rules and the swap into place, on plain folders (no export needed)."""
from __future__ import annotations

import json
import os

import pytest

from poseexport.errors import UnsupportedOptionError
from poseexport.export import output_dir
from poseexport.export.output_dir import (
    check_replaceable,
    cleanup,
    install,
    prepare_output,
)
from poseexport.manifest import write_manifest


def fake_artifact(folder):
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"weights")
    (folder / "sub").mkdir()
    (folder / "sub" / "part.bin").write_bytes(b"more")
    (folder / "metadata.json").write_text("{}")
    write_manifest(folder, "model.onnx", "onnx")
    return folder


def test_missing_and_empty_folders_may_be_used(tmp_path):
    check_replaceable(tmp_path / "absent", "--out x")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", "--out x")


def test_an_unchanged_artifact_may_be_replaced_and_an_extra_folder_may_not(tmp_path):
    art = fake_artifact(tmp_path / "art")
    check_replaceable(art, "--out art")
    (art / "sub" / "mine").mkdir()
    with pytest.raises(UnsupportedOptionError, match="also holds sub/mine/, which is not listed"):
        check_replaceable(art, "--out art")


def test_a_symlink_inside_an_artifact_is_not_replaced(tmp_path):
    art = fake_artifact(tmp_path / "art")
    (tmp_path / "precious.txt").write_text("x")
    os.symlink(tmp_path / "precious.txt", art / "link.txt")
    with pytest.raises(UnsupportedOptionError, match="link.txt"):
        check_replaceable(art, "--out art")


def test_the_message_lists_the_first_entries_and_a_count(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(8):
        (folder / f"f{i}.txt").write_text("x")
    with pytest.raises(UnsupportedOptionError, match=r"f0.txt, f1.txt, f2.txt, f3.txt, f4.txt and 3 more"):
        check_replaceable(folder, "--out many")


def test_a_failed_move_in_restores_the_previous_artifact(tmp_path, monkeypatch):
    art = fake_artifact(tmp_path / "art")
    before = {p.relative_to(art): p.read_bytes() for p in art.rglob("*") if p.is_file()}
    target = prepare_output(art, "--out art")
    staging = target.work / "artifact"
    fake_artifact(staging)
    real, calls = output_dir.move, []

    def failing_second_move(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(output_dir, "move", failing_second_move)
    with pytest.raises(OSError, match="No space"):
        install(target, staging)
    cleanup(target, installed=False)
    assert {p.relative_to(art): p.read_bytes() for p in art.rglob("*") if p.is_file()} == before
    assert calls[0] == (art, target.work / "previous") and len(calls) == 3  # aside, (failed) in, back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # no work folder left


def test_created_parents_are_removed_when_nothing_was_installed(tmp_path):
    target = prepare_output(tmp_path / "a" / "b" / "art", "--out art")
    assert target.created == [tmp_path / "a", tmp_path / "a" / "b"] and target.work.is_dir()
    cleanup(target, installed=False)
    assert list(tmp_path.iterdir()) == []


def test_replacing_swaps_and_deletes_the_old_one(tmp_path):
    art = fake_artifact(tmp_path / "art")
    target = prepare_output(art, "--out art")
    staging = target.work / "artifact"
    staging.mkdir()
    (staging / "metadata.json").write_text('{"new": 1}')
    (staging / "new.onnx").write_bytes(b"new")
    write_manifest(staging, "new.onnx", "onnx")
    install(target, staging)
    cleanup(target, installed=True)
    assert sorted(p.name for p in art.iterdir()) == ["manifest.json", "metadata.json", "new.onnx"]
    assert json.loads((art / "manifest.json").read_text())["main"] == "new.onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_ctrl_c_inside_the_swap_is_held_until_it_is_done():
    import signal
    import threading

    steps = []
    with pytest.raises(KeyboardInterrupt):
        with output_dir.signals_deferred():
            # sent from another thread, as a process-directed signal may land on any thread
            threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT)).start()
            for _ in range(50):
                steps.append(1)
                threading.Event().wait(0.01)
    assert len(steps) == 50  # the whole block ran before the KeyboardInterrupt
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
