"""`poseexport validate`'s reference: find the PyTorch model an artifact came from, and make sure
it is the same one. (In the CLI, not in validate/: it loads a PoseModel, which exports and so
imports validate; validate itself compares outputs and knows no model class.)"""
from __future__ import annotations

from ..errors import BadArtifactError, UnsupportedOptionError
from ..model import PoseModel


def reference_model(metadata, reference: str | None) -> PoseModel:
    """The checkpoint named by `reference`, else `<arch>.pt` resolved like any weights name.

    Its sha256 must equal the one recorded at export time: comparing against another
    model's weights would make every number meaningless.
    """
    from ..artifact_model import opens_as_artifact

    name = reference or f"{metadata.model.arch}.pt"
    if opens_as_artifact(name):  # PoseModel would open it as an artifact: there is no PyTorch model in it
        raise UnsupportedOptionError(f"--reference {name} is an exported artifact",
                                     "validate compares an artifact with the PyTorch model it was exported from",
                                     f"pass that checkpoint, e.g. --reference {metadata.model.arch}.pt")
    model = PoseModel(name)
    recorded = metadata.source_sha256
    actual = model.checkpoint.sha256 if model.checkpoint else None
    if recorded and actual != recorded:
        raise BadArtifactError(
            f"The reference model {name} is not the one this artifact was exported from",
            f"its sha256 is {actual}, the artifact records {recorded}",
            "pass the original checkpoint with --reference")
    return model
