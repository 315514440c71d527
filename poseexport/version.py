"""The poseexport version, in a module of its own: metadata and the CLI read it without
importing the package's front door (poseexport/__init__.py), which imports the runtime."""
from __future__ import annotations

__version__ = "0.1.0"
