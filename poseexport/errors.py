"""One error hierarchy for poseexport.

Every user-facing failure is a `PoseExportError`. Messages follow one shape:
what failed -> why -> how to fix, then optional context lines. The CLI prints
these without a traceback and exits non-zero; any other exception is a bug.
"""
from __future__ import annotations


class PoseExportError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code = 2

    def __init__(self, what: str, why: str = "", fix: str = "", context: list[str] | None = None):
        self.what, self.why, self.fix = what, why, fix
        self.context = list(context or [])
        super().__init__(self.render())

    def render(self) -> str:
        parts = [_sentence(p) for p in (self.what, self.why, self.fix) if p]
        text = " ".join(parts)
        lines = [line for line in self.context if line]
        if lines:
            text += "\n" + "\n".join(f"  {line}" for line in lines)
        return text


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ":")) else text + "."


class MissingDependencyError(PoseExportError):
    """An optional toolchain (pip extra) is not installed."""


class UnsupportedOptionError(PoseExportError):
    """An option or a combination of options that cannot be honoured as asked."""


class BadCheckpointError(PoseExportError):
    """A checkpoint that cannot be read, is not a pose model, or is unsafe."""


class UnsafeCheckpointError(BadCheckpointError):
    """A pickle that references code outside the allow-list; nothing was executed."""


class WeightsNotFoundError(PoseExportError):
    """A model name or path that resolves to no file (and no download was possible)."""


class BadInputError(PoseExportError):
    """A source (image, folder, video, array) that cannot be read."""


class BadDatasetError(PoseExportError):
    """A dataset yaml or label set that cannot be used."""


class ExportFailedError(PoseExportError):
    """A converter failed; no half-written artifact is left behind."""


class ValidationFailedError(PoseExportError):
    """An artifact that does not match its PyTorch reference within tolerance."""


class BadArtifactError(PoseExportError):
    """A file or folder that is not a loadable poseexport artifact."""


class RequirementsNotMetError(PoseExportError):
    """An artifact that needs another OS, device or runtime version than this machine has."""
