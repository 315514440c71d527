"""A folder passed where a model is expected, but holding no artifact: say what it is.

Its own module: both PoseModel (which refuses folders) and ArtifactModel's `open_model` need it,
and ArtifactModel's module imports PoseModel's, so it cannot live in either.
"""
from __future__ import annotations

from pathlib import Path

from .errors import BadArtifactError
from .metadata import METADATA_FILE


def check_model_folder(folder: Path) -> None:
    """A folder passed as a model without metadata.json: an OpenVINO IR pair passes (load
    sniffs it); anything else is named for what it is (empty, a run folder, other files)."""
    entries = sorted(folder.iterdir())
    if len(list(folder.glob("*.xml"))) == 1:
        return
    fix = "pass an artifact folder written by poseexport convert, or a checkpoint file (.pt)"
    if not entries:
        raise BadArtifactError(f"The model folder {folder} is empty", "it holds no model: no artifact files "
                               "(metadata.json, model file) and no checkpoint", fix)
    checkpoints = sorted(p for pattern in ("*.pt", "*/*.pt") for p in folder.glob(pattern))
    names = [p.name + ("/" if p.is_dir() else "") for p in entries]
    shown = ", ".join(names[:10]) + (f" … and {len(names) - 10} more" if len(names) > 10 else "")
    raise BadArtifactError(
        f"The folder {folder} is not a poseexport artifact",
        f"it has no {METADATA_FILE} (an artifact folder written by poseexport convert has one)",
        f"pass the checkpoint inside it, e.g. --model {checkpoints[0]}" if checkpoints else fix,
        context=[f"it holds: {shown}"])
