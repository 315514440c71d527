"""`open_model(path)`: a checkpoint or config as a PoseModel, an exported artifact as an
ArtifactModel — what `PoseModel(path)` returns, but without importing torch for an artifact, so
the CLI's predict and val run artifacts where torch is absent."""
from __future__ import annotations

from pathlib import Path

from .artifact_model import ArtifactModel, opens_as_artifact


def open_model(model: str | Path, device: str = "cpu", verify: bool = True):
    """A PoseModel for checkpoints and configs, an ArtifactModel for exported artifacts
    (`verify`: check the artifact's files against its manifest first)."""
    if opens_as_artifact(model):
        return ArtifactModel(model, device=device, verify=verify)
    from .model import PoseModel

    return PoseModel(model, device=device)
