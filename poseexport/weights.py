"""Find a checkpoint file by path or by name, downloading known ones into the cache.

Search order for `resolve_weights("yolo11n-pose.pt")`:

1. the path as given (relative to the current directory);
2. each directory of `$POSEEXPORT_WEIGHTS_DIR` (one, or several joined by os.pathsep);
3. the user cache, `poseexport.paths.user_cache_dir() / "weights"`;
4. for a known model card: a download from the card's URL into that cache, checked
   against the card's sha256. `$POSEEXPORT_OFFLINE=1` turns downloads off.

Files the user placed are never replaced or deleted. A download goes to a temporary
file beside its target and is renamed only once it is complete and verified.
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from poseexport import model_cards
from poseexport.errors import BadCheckpointError, WeightsNotFoundError
from poseexport.paths import user_cache_dir

WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")
CONFIG_SUFFIXES = (".yaml", ".yml")
WEIGHTS_DIR_ENV = "POSEEXPORT_WEIGHTS_DIR"
OFFLINE_ENV = "POSEEXPORT_OFFLINE"
DEFAULT_TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_USER_AGENT = "poseexport (+urllib)"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def offline() -> bool:
    """True when `$POSEEXPORT_OFFLINE` asks for no downloads (1, true, yes, on)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def weights_dirs() -> list[Path]:
    """The directories named by `$POSEEXPORT_WEIGHTS_DIR`, in order (empty if unset)."""
    raw = os.environ.get(WEIGHTS_DIR_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def weights_cache_dir() -> Path:
    """Where downloaded checkpoints are kept."""
    return user_cache_dir() / "weights"


def download_file(
    url: str,
    dest: Path,
    sha256: str | None,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
    expected_size: int | None = None,
) -> Path:
    """Download `url` to `dest` atomically; verify sha256 (and size) when given.

    The bytes go to a temporary file in `dest`'s directory, which is renamed onto
    `dest` only when complete and verified, and deleted on any failure. Raises
    WeightsNotFoundError when the download cannot happen (offline, HTTP error,
    network error, timeout, truncated body) and BadCheckpointError when the bytes
    arrive but do not match `sha256` or `expected_size`.
    """
    dest = Path(dest)
    if offline():
        raise WeightsNotFoundError(
            f"Refusing to download {url}",
            f"${OFFLINE_ENV} is set to {os.environ.get(OFFLINE_ENV)!r}, which turns downloads off",
            f"Unset {OFFLINE_ENV} to allow the download, or put the file at {dest} yourself",
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as err:
        raise WeightsNotFoundError(
            f"Cannot download {url} into {dest.parent}",
            f"the directory is not writable ({err})",
            "Point POSEEXPORT_CACHE_DIR at a writable directory",
        ) from err
    tmp = Path(tmp_name)
    done = False
    try:
        with os.fdopen(fd, "wb") as out:
            received, digest = _stream(url, out, progress, timeout, dest.name)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if expected_size is not None and received != expected_size:
            raise BadCheckpointError(
                f"The download of {url} has the wrong size",
                f"expected {expected_size} bytes, got {received}; nothing was kept",
                "Try again; if it persists the release asset has changed, so download it by hand and check it",
            )
        if sha256 is not None and actual != sha256.lower():
            raise BadCheckpointError(
                f"The download of {url} does not match its known sha256",
                f"expected sha256 {sha256.lower()}, got {actual} ({received} bytes); nothing was kept",
                "Try again; if it persists the release asset has changed or the download is being "
                "altered, so download it by hand and check it before use",
            )
        os.replace(tmp, dest)
        done = True
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
    return dest


def _stream(url: str, out: BinaryIO, progress: bool, timeout: float, label: str) -> tuple[int, "hashlib._Hash"]:
    """Copy the body of `url` into `out`; return (bytes received, sha256 object)."""
    from tqdm import tqdm  # lazy: only downloads need it

    digest = hashlib.sha256()
    received = 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                file=sys.stderr, disable=not progress, leave=False,
            ) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise WeightsNotFoundError(
                f"Downloading {url} failed",
                f"the connection closed after {received} of {total} bytes",
                "Try again",
            )
    except urllib.error.HTTPError as err:
        raise WeightsNotFoundError(f"Downloading {url} failed", f"HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        raise WeightsNotFoundError(f"Downloading {url} failed", f"{err.reason}") from err
    except TimeoutError as err:
        raise WeightsNotFoundError(f"Downloading {url} failed", f"no answer within {timeout:g} s") from err
    except (http.client.HTTPException, OSError, ValueError) as err:
        # IncompleteRead, connection resets, malformed URLs, a full disk.
        raise WeightsNotFoundError(f"Downloading {url} failed", f"{type(err).__name__}: {err}") from err
    return received, digest


def resolve_weights(
    name_or_path: str | os.PathLike[str], download: bool = True, progress: bool = True
) -> Path:
    """Return the path of a checkpoint given its path or its name ("yolo11n-pose.pt").

    See the module docstring for the search order. Raises WeightsNotFoundError when
    nothing is found (the message lists every place searched), BadCheckpointError
    when a cached copy or a fresh download does not match its model card.
    """
    text = os.fspath(name_or_path)
    if not text.strip():
        raise WeightsNotFoundError("No weights given", "the name is empty", "Pass a .pt path or a known name")
    given = Path(text).expanduser()
    if given.suffix.lower() in CONFIG_SUFFIXES:
        raise WeightsNotFoundError(
            f"{text!r} is an architecture config, not weights",
            "yaml files describe a network; they hold no trained parameters",
            "Build it with the model config loader, or pass a checkpoint such as "
            f"{given.stem}.pt",
        )
    if given.is_file():
        return given.resolve()
    if given.exists():
        raise WeightsNotFoundError(f"Weights path {text!r} is not a file", f"{given.resolve()} is a directory",
                                   "Pass the checkpoint file inside it")
    if _looks_like_path(text):
        raise WeightsNotFoundError(
            f"No such file: {text}",
            f"{given.resolve()} does not exist",
            "Check the path, or pass a bare checkpoint name (e.g. yolo11n-pose.pt) to search the "
            "weights directories and the cache",
        )

    card = model_cards.get_card(text)
    filename = card.filename if card is not None else given.name
    local = given if given.name == filename else Path(filename)  # "yolo11n-pose" -> ./yolo11n-pose.pt
    if local.is_file():
        return local.resolve()
    env_dirs = weights_dirs()
    for directory in env_dirs:
        candidate = directory / filename
        if candidate.is_file():
            return candidate.resolve()
    cached = weights_cache_dir() / filename
    if cached.is_file():
        if card is not None:
            _check_cached(cached, card)
        return cached.resolve()

    searched = _searched_places(local, filename, env_dirs, cached)
    if card is None:
        raise _unknown_name_error(text, searched)
    if not download:
        raise WeightsNotFoundError(
            f"Weights {filename} not found",
            f"it is a known checkpoint, but downloading is turned off (download=False); searched {searched}",
            f"Allow the download, or fetch {card.url} yourself and put it at one of those paths",
        )
    if offline():
        raise WeightsNotFoundError(
            f"Weights {filename} not found",
            f"it is a known checkpoint, but ${OFFLINE_ENV} is set, so {card.url} was not downloaded; "
            f"searched {searched}",
            f"Unset {OFFLINE_ENV}, or fetch that file on a machine with network and put it at one of "
            "those paths",
        )
    try:
        return download_file(card.url, cached, card.sha256, progress=progress,
                             expected_size=card.size_bytes).resolve()
    except WeightsNotFoundError as err:
        raise WeightsNotFoundError(
            f"Could not get weights {filename}",
            f"downloading {card.url} failed ({err.why or err.what}); searched {searched}",
            "Download that file on a machine with network and put it at one of those paths "
            f"(or in a directory named by ${WEIGHTS_DIR_ENV}), then run again",
        ) from err


def _looks_like_path(text: str) -> bool:
    """A name with a directory part ("runs/best.pt", "~/w.pt") is a path, not a name."""
    return any(sep and sep in text for sep in ("/", os.sep, os.altsep))


def _searched_places(local: Path, filename: str, env_dirs: list[Path], cached: Path) -> str:
    places = [str(Path.cwd() / local)]
    if env_dirs:
        places += [str(d / filename) for d in env_dirs]
    else:
        places.append(f"${WEIGHTS_DIR_ENV}/{filename} (${WEIGHTS_DIR_ENV} is not set)")
    places.append(str(cached))
    return ", ".join(places)


def _unknown_name_error(text: str, searched: str) -> WeightsNotFoundError:
    known = model_cards.known_checkpoints()
    candidates = known + [k[: -len(".pt")] for k in known]
    close = difflib.get_close_matches(Path(text).name, candidates, n=3, cutoff=0.6)
    close = list(dict.fromkeys(c if c.endswith(".pt") else f"{c}.pt" for c in close))
    context = [f"did you mean: {', '.join(close)}?"] if close else []
    context.append(f"known checkpoints: {', '.join(known)}")
    return WeightsNotFoundError(
        f"Unknown weights {text!r}",
        f"no such file (searched {searched}) and it is not a known checkpoint name",
        "Pass the path to a checkpoint file, or one of the known names below",
        context,
    )


def _check_cached(path: Path, card: model_cards.ModelCard) -> None:
    """Refuse a cached copy that is not the card's file; never delete it ourselves."""
    if card.size_bytes is not None:
        size = path.stat().st_size
        if size != card.size_bytes:
            raise _corrupt_cache_error(path, card, f"it has {size} bytes, expected {card.size_bytes}")
    if card.sha256 is not None:
        actual = sha256_file(path)
        if actual != card.sha256:
            raise _corrupt_cache_error(path, card, f"its sha256 is {actual}, expected {card.sha256}")


def _corrupt_cache_error(path: Path, card: model_cards.ModelCard, why: str) -> BadCheckpointError:
    return BadCheckpointError(
        f"The cached checkpoint {path} is corrupt or not the official {card.filename}",
        why,
        f"Delete {path} and run again to download it afresh from {card.url}; to use your own "
        f"weights, pass their path instead of the name",
    )
