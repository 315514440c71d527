"""Weights resolution and model cards, against a real local HTTP server.

Every download here goes to a `http.server` on 127.0.0.1; a guard makes any other
connection fail, so these tests never reach the internet.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import importlib.util
import os
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest

from poseexport import model_cards
from poseexport.errors import BadCheckpointError, WeightsNotFoundError
from poseexport.paths import PACKAGE_DIR
from poseexport.weights import download_file, resolve_weights, sha256_file

OFFICIAL_SHA256 = "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
OFFICIAL_SIZE = 6255593
NAME = "yolo11n-pose.pt"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Any connection to a non-loopback host fails, as if offline."""
    real_create_connection = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in LOOPBACK:
            raise OSError(f"test guard: no internet access to {address[0]}")
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated cache and weights dirs; the working directory is an empty folder."""
    cache = tmp_path / "cache"
    wdir = tmp_path / "wdir"
    work = tmp_path / "work"
    wdir.mkdir()
    work.mkdir()
    monkeypatch.setenv("POSEEXPORT_CACHE_DIR", str(cache))
    monkeypatch.setenv("POSEEXPORT_WEIGHTS_DIR", str(wdir))
    monkeypatch.delenv("POSEEXPORT_OFFLINE", raising=False)
    monkeypatch.chdir(work)
    return {"cache": cache / "weights", "wdir": wdir, "work": work, "root": tmp_path}


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 serving one directory, counting requests."""

    def __init__(self, directory: Path, handler_cls=None):
        self.requests: list[str] = []
        requests = self.requests

        class Quiet(handler_cls or http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def send_head(self):
                requests.append(self.path)
                return super().send_head()

        handler = functools.partial(Quiet, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve():
    servers: list[_Server] = []

    def start(directory: Path, handler_cls=None) -> _Server:
        server = _Server(directory, handler_cls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def served_official(tmp_path, official_pt):
    """A directory holding a copy of the real yolo11n-pose.pt."""
    root = tmp_path / "srv"
    root.mkdir()
    shutil.copyfile(official_pt, root / NAME)
    return root


def _use_card_url(monkeypatch, url: str, **changes) -> model_cards.ModelCard:
    """Point the real yolo11n-pose card at `url` (other fields as given)."""
    real = model_cards.load_cards()
    card = dataclasses.replace(real["yolo11n-pose"], url=url, **changes)
    patched = {**real, card.name: card}
    monkeypatch.setattr(model_cards, "load_cards", lambda: dict(patched))
    return card


def _listing(directory: Path) -> list[str]:
    """Every entry in a directory, hidden temp files included ([] if absent)."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------- downloads


def test_download_lands_in_cache_with_right_sha256(env, served_official, serve, monkeypatch):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    path = resolve_weights(NAME, progress=False)
    assert path == (env["cache"] / NAME).resolve()
    assert path.stat().st_size == OFFICIAL_SIZE
    assert sha256_file(path) == OFFICIAL_SHA256
    assert _listing(env["cache"]) == [NAME]  # no temp file left beside it
    assert server.requests == [f"/{NAME}"]


def test_second_resolve_uses_cache_with_server_stopped(env, served_official, serve, monkeypatch):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    first = resolve_weights(NAME, progress=False)
    server.stop()
    second = resolve_weights(NAME, progress=False)
    assert second == first
    assert server.requests == [f"/{NAME}"]  # one download, then the cache


def test_bare_card_name_without_suffix_resolves(env, served_official, serve, monkeypatch):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    path = resolve_weights("yolo11n-pose", progress=False)
    assert path.name == NAME and sha256_file(path) == OFFICIAL_SHA256


def test_progress_bar_goes_to_stderr(env, served_official, serve, monkeypatch, capsys):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    resolve_weights(NAME, progress=True)
    captured = capsys.readouterr()
    assert NAME in captured.err and captured.out == ""


def test_wrong_bytes_raise_and_leave_nothing(env, tmp_path, serve, monkeypatch):
    bad_root = tmp_path / "bad"
    bad_root.mkdir()
    (bad_root / NAME).write_bytes(b"not a checkpoint" * 1000)
    server = serve(bad_root)
    _use_card_url(monkeypatch, server.url(NAME), size_bytes=None)
    with pytest.raises(BadCheckpointError) as info:
        resolve_weights(NAME, progress=False)
    message = str(info.value)
    assert OFFICIAL_SHA256 in message
    assert hashlib.sha256(b"not a checkpoint" * 1000).hexdigest() in message
    assert _listing(env["cache"]) == []  # neither the file nor a temp file


def test_wrong_size_is_refused_before_rename(env, tmp_path, serve, monkeypatch):
    bad_root = tmp_path / "bad"
    bad_root.mkdir()
    (bad_root / NAME).write_bytes(b"x" * 100)
    server = serve(bad_root)
    _use_card_url(monkeypatch, server.url(NAME))
    with pytest.raises(BadCheckpointError, match=str(OFFICIAL_SIZE)):
        resolve_weights(NAME, progress=False)
    assert _listing(env["cache"]) == []


def test_404_names_every_place_to_put_the_file(env, tmp_path, serve, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    server = serve(empty)
    url = server.url(NAME)
    _use_card_url(monkeypatch, url)
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(NAME, progress=False)
    message = str(info.value)
    assert "404" in message and url in message
    assert str(env["work"] / NAME) in message
    assert str(env["wdir"] / NAME) in message
    assert str(env["cache"] / NAME) in message
    assert "\n" not in message  # one paragraph
    assert _listing(env["cache"]) == []


def test_truncated_body_is_a_download_failure(env, tmp_path, serve, monkeypatch):
    class Truncating(http.server.SimpleHTTPRequestHandler):
        def send_head(self):
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"only a little")
            self.close_connection = True
            return None

    server = serve(tmp_path, Truncating)
    _use_card_url(monkeypatch, server.url(NAME))
    with pytest.raises(WeightsNotFoundError, match="failed"):
        resolve_weights(NAME, progress=False)
    assert _listing(env["cache"]) == []


def test_real_url_without_network_fails_clearly(env, monkeypatch):
    monkeypatch.delenv("POSEEXPORT_WEIGHTS_DIR")
    card = model_cards.get_card(NAME)
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(NAME, progress=False)
    message = str(info.value)
    assert card.url in message and "test guard: no internet" in message
    assert "$POSEEXPORT_WEIGHTS_DIR is not set" in message
    assert str(env["cache"] / NAME) in message
    assert _listing(env["cache"]) == []


def test_download_file_direct(env, served_official, serve, tmp_path):
    server = serve(served_official)
    dest = tmp_path / "out" / "w.pt"
    assert download_file(server.url(NAME), dest, OFFICIAL_SHA256, progress=False) == dest
    assert sha256_file(dest) == OFFICIAL_SHA256
    assert _listing(dest.parent) == ["w.pt"]


# ---------------------------------------------------------------- local lookups


def test_weights_dir_is_searched_without_download(env, official_pt, serve, tmp_path, monkeypatch):
    second = tmp_path / "wdir2"
    second.mkdir()
    shutil.copyfile(official_pt, second / NAME)
    monkeypatch.setenv("POSEEXPORT_WEIGHTS_DIR", f"{env['wdir']}{os.pathsep}{second}")
    empty = tmp_path / "empty"
    empty.mkdir()
    server = serve(empty)
    _use_card_url(monkeypatch, server.url(NAME))
    assert resolve_weights(NAME, progress=False) == (second / NAME).resolve()
    assert server.requests == []
    assert _listing(env["cache"]) == []


def test_existing_local_path_is_returned_as_is(env, official_pt, tmp_path):
    mine = tmp_path / "runs" / "best.pt"
    mine.parent.mkdir()
    mine.write_bytes(b"my own weights")
    assert resolve_weights(mine) == mine.resolve()
    assert resolve_weights(str(official_pt)) == official_pt.resolve()


def test_missing_path_is_no_such_file(env):
    with pytest.raises(WeightsNotFoundError, match="No such file"):
        resolve_weights("runs/train/weights/best.pt")


def test_corrupt_cached_file_is_reported_not_replaced(env, monkeypatch, serve, served_official):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    env["cache"].mkdir(parents=True)
    corrupt = env["cache"] / NAME
    corrupt.write_bytes(b"\0" * OFFICIAL_SIZE)
    with pytest.raises(BadCheckpointError) as info:
        resolve_weights(NAME, progress=False)
    assert str(corrupt) in str(info.value) and "Delete" in str(info.value)
    assert corrupt.read_bytes() == b"\0" * OFFICIAL_SIZE  # untouched
    assert server.requests == []


# ---------------------------------------------------------------- refusals


def test_unknown_name_suggests_close_matches(env):
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights("yolo11n-pos.pt")
    message = str(info.value)
    assert "did you mean: yolo11n-pose.pt" in message
    assert "yolov8x-pose.pt" in message  # the list of known names


def test_offline_env_refuses_download(env, served_official, serve, monkeypatch):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    monkeypatch.setenv("POSEEXPORT_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="POSEEXPORT_OFFLINE"):
        resolve_weights(NAME, progress=False)
    with pytest.raises(WeightsNotFoundError, match="POSEEXPORT_OFFLINE"):
        download_file(server.url(NAME), env["root"] / "x.pt", None, progress=False)
    assert server.requests == []
    assert _listing(env["cache"]) == []


def test_download_false_says_so(env, served_official, serve, monkeypatch):
    server = serve(served_official)
    _use_card_url(monkeypatch, server.url(NAME))
    with pytest.raises(WeightsNotFoundError, match="download=False"):
        resolve_weights(NAME, download=False)
    assert server.requests == []


def test_yaml_config_is_not_weights(env):
    with pytest.raises(WeightsNotFoundError, match="architecture config"):
        resolve_weights("yolo11n-pose.yaml")


# ---------------------------------------------------------------- model cards


def test_real_cards_are_complete(official_pt):
    cards = model_cards.load_cards()
    expected = {f"{fam}{s}-pose" for fam in ("yolo11", "yolov8") for s in "nsmlx"}
    assert set(cards) == expected
    for card in cards.values():
        assert card.arch == f"{card.family}-pose.yaml"
        assert card.name == f"{card.family}{card.scale}-pose"
        assert card.url == (
            f"https://github.com/ultralytics/assets/releases/download/v8.3.0/{card.filename}"
        )
        assert card.kpt_shape == (17, 3) and card.names == {0: "person"}
        assert card.sha256_source
        assert card.published.imgsz == 640 and 45 < card.published.pose_map50_95 < 75
        assert (card.sha256 is None) == (card.size_bytes is None)
    assert model_cards.known_checkpoints()[0] == NAME
    assert model_cards.get_card(NAME) is not None and model_cards.get_card("yolo11n-pose.yaml") is None
    card = cards["yolo11n-pose"]
    assert card.sha256 == sha256_file(official_pt) == OFFICIAL_SHA256
    assert card.size_bytes == official_pt.stat().st_size
    assert (card.published.pose_map50_95, card.published.params_m) == (50.0, 2.9)


def test_cards_load_from_the_installed_package(monkeypatch):
    """With `poseexport.model_zoo` importable (an install), cards come from it."""
    zoo = PACKAGE_DIR.parent / "model_zoo"
    spec = importlib.util.spec_from_file_location(
        "poseexport.model_zoo", zoo / "__init__.py", submodule_search_locations=[str(zoo)]
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "poseexport.model_zoo", module)
    assert model_cards._read_cards_text() == (zoo / "cards.yaml").read_text("utf-8")
