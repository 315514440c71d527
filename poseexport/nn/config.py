"""Architecture configs: the YOLO layer-table schema, scales, and name resolution.

A config is a dict with `nc`, `kpt_shape`, optional `scales` {letter: [depth, width,
max_channels]}, and `backbone` + `head` lists of `[from, repeats, module, args]` rows.
The same schema is embedded in Ultralytics checkpoints, so one parser serves both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..errors import PoseExportError

# "yolo11n-pose.yaml" -> family config "yolo11-pose.yaml", scale "n"
_SCALED_NAME = re.compile(r"^(?P<family>yolo11|yolov8)(?P<scale>[nsmlx])-pose(?:\.ya?ml)?$")


class BadConfigError(PoseExportError):
    """An architecture config that cannot be built."""


@dataclass(frozen=True)
class ArchSpec:
    """A resolved architecture: the config dict and the scale letter to build."""

    name: str
    config: dict
    scale: str | None


def zoo_config_names() -> list[str]:
    """Names of the configs shipped in `model_zoo/`."""
    return sorted(p.name for p in _zoo_dir().iterdir() if p.suffix == ".yaml" and p.name != "cards.yaml")


def resolve_arch(name_or_path: str | Path) -> ArchSpec:
    """A model_zoo name (`yolo11n-pose.yaml`, `yolov8s-pose`, `posenet-test`) or a yaml path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        cfg = load_yaml(path)
        return ArchSpec(path.stem, cfg, _scale_from_name(path.stem, cfg))
    base = path.name
    match = _SCALED_NAME.match(base)
    if match:
        cfg = load_yaml(_zoo_dir() / f"{match['family']}-pose.yaml")
        return ArchSpec(base.split(".")[0], cfg, match["scale"])
    stem = base[:-5] if base.endswith(".yaml") else base
    candidate = _zoo_dir() / f"{stem}.yaml"
    if candidate.is_file() and stem != "cards":
        cfg = load_yaml(candidate)
        return ArchSpec(stem, cfg, _scale_from_name(stem, cfg))
    import difflib

    known = _known_arch_names()
    close = difflib.get_close_matches(base, known, n=3)
    raise BadConfigError(
        f"Unknown model config '{text}'",
        "it is neither a yaml file on disk nor a config in poseexport's model_zoo",
        "pass a path to your own yaml, or one of the names below",
        [f"did you mean: {', '.join(close)}" if close else "", "known: " + ", ".join(known)])


def load_yaml(path: Path) -> dict:
    try:
        cfg = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise BadConfigError(f"Cannot read model config {path}", str(err),
                             "check that the file is valid YAML") from err
    if not isinstance(cfg, dict) or "backbone" not in cfg or "head" not in cfg:
        raise BadConfigError(f"{path} is not a model config",
                             "it has no 'backbone' and 'head' layer lists",
                             "use a YOLO pose architecture yaml (see model_zoo/)")
    return cfg


def scale_factors(cfg: dict, scale: str | None) -> tuple[float, float, float]:
    """(depth, width, max_channels) for the chosen scale; no scales -> (1, 1, inf)."""
    scales = cfg.get("scales")
    if not scales:
        return (float(cfg.get("depth_multiple", 1.0)), float(cfg.get("width_multiple", 1.0)),
                float("inf"))
    if scale is None:
        scale = next(iter(scales))
    if scale not in scales:
        raise BadConfigError(f"Scale '{scale}' is not defined in this config",
                             f"it defines {', '.join(scales)}", "pick one of those")
    depth, width, max_ch = scales[scale]
    return float(depth), float(width), float(max_ch)


def _scale_from_name(stem: str, cfg: dict) -> str | None:
    if cfg.get("scale"):
        return str(cfg["scale"])
    match = _SCALED_NAME.match(stem)
    return match["scale"] if match else None


def _zoo_dir() -> Path:
    try:
        root = resources.files("poseexport.model_zoo")
        path = Path(str(root))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parents[2] / "model_zoo"


def _known_arch_names() -> list[str]:
    names = []
    for cfg_name in zoo_config_names():
        stem = cfg_name[:-5]
        m = re.match(r"^(yolo11|yolov8)-pose$", stem)
        if m:
            names += [f"{m[1]}{s}-pose.yaml" for s in "nsmlx"]
        else:
            names.append(cfg_name)
    return names
