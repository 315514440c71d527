"""Model cards: what poseexport knows about each official pose checkpoint.

The cards live in `model_zoo/cards.yaml` (installed as `poseexport.model_zoo`). Each
card says where the checkpoint is published, its sha256 when one could be
established, which architecture config builds it, and the published COCO numbers.
"""
from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from poseexport.paths import PACKAGE_DIR

CARDS_FILE = "cards.yaml"
_FAMILIES = ("yolo11", "yolov8")
_SCALES = ("n", "s", "m", "l", "x")


@dataclass(frozen=True)
class PublishedMetrics:
    """Numbers the publisher reports (COCO keypoints val2017, single scale)."""

    pose_map50_95: float
    pose_map50: float
    box_map50_95: float | None
    params_m: float
    flops_b: float
    imgsz: int = 640


@dataclass(frozen=True)
class ModelCard:
    """One known checkpoint: provenance, architecture and published accuracy."""

    name: str  # e.g. "yolo11n-pose"; the file is `filename`
    family: str  # "yolo11" | "yolov8"
    arch: str  # config file name in model_zoo, e.g. "yolo11-pose.yaml"
    scale: str  # n | s | m | l | x
    url: str
    sha256: str | None
    sha256_source: str
    size_bytes: int | None
    published: PublishedMetrics
    licence: str
    kpt_shape: tuple[int, int]
    names: dict[int, str] = field(hash=False)

    @property
    def filename(self) -> str:
        """The checkpoint's file name, e.g. "yolo11n-pose.pt"."""
        return f"{self.name}.pt"


def _read_cards_text() -> str:
    """The yaml text: from the installed package, else from the repo's model_zoo/."""
    try:
        return (importlib.resources.files("poseexport.model_zoo") / CARDS_FILE).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        # Running from a source tree on PYTHONPATH: `model_zoo/` is only mapped to
        # `poseexport.model_zoo` by an install, so read it next to the package.
        return (PACKAGE_DIR.parent / "model_zoo" / CARDS_FILE).read_text("utf-8")


def _card_from_dict(raw: dict[str, Any]) -> ModelCard:
    name = raw.get("name", "<unnamed>")
    try:
        published = PublishedMetrics(**raw["published"])
        card = ModelCard(
            name=str(raw["name"]),
            family=str(raw["family"]),
            arch=str(raw["arch"]),
            scale=str(raw["scale"]),
            url=str(raw["url"]),
            sha256=(str(raw["sha256"]).lower() if raw.get("sha256") else None),
            sha256_source=str(raw.get("sha256_source") or ""),
            size_bytes=(int(raw["size_bytes"]) if raw.get("size_bytes") is not None else None),
            published=published,
            licence=str(raw["licence"]),
            kpt_shape=tuple(int(v) for v in raw["kpt_shape"]),  # type: ignore[arg-type]
            names={int(k): str(v) for k, v in raw["names"].items()},
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{CARDS_FILE}: card {name!r} is malformed ({err!r})") from err
    if card.family not in _FAMILIES or card.scale not in _SCALES:
        raise ValueError(f"{CARDS_FILE}: card {name!r} has family {card.family!r} / scale {card.scale!r}")
    if card.sha256 is not None and (len(card.sha256) != 64 or set(card.sha256) - set("0123456789abcdef")):
        raise ValueError(f"{CARDS_FILE}: card {name!r} has a sha256 that is not 64 hex digits")
    return card


@functools.lru_cache(maxsize=1)
def _cached_cards() -> tuple[ModelCard, ...]:
    doc = yaml.safe_load(_read_cards_text())
    cards = tuple(_card_from_dict(raw) for raw in doc["cards"])
    names = [c.name for c in cards]
    if len(set(names)) != len(names):
        raise ValueError(f"{CARDS_FILE}: duplicate card names in {names}")
    return cards


def load_cards() -> dict[str, ModelCard]:
    """All known cards, keyed by name ("yolo11n-pose"). A fresh dict on each call."""
    return {card.name: card for card in _cached_cards()}


def _card_key(name: str) -> str:
    base = Path(name).name
    return base[: -len(".pt")] if base.lower().endswith(".pt") else base


def get_card(name: str) -> ModelCard | None:
    """The card for "yolo11n-pose" or "yolo11n-pose.pt" (a directory part is ignored), else None."""
    return load_cards().get(_card_key(str(name)))


def known_checkpoints() -> list[str]:
    """File names of every known checkpoint, e.g. ["yolo11n-pose.pt", ...]."""
    return [card.filename for card in load_cards().values()]
