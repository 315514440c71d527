"""The backend contract, owned by the core: what a format plugin (backends/, installed as
`poseexport.backends`) implements, and the registry that finds plugins by name.

The core imports this package, never a plugin: plugins are reached only through the
registry's "module:Class" strings, entry points and POSEEXPORT_EXTRA_BACKENDS.
"""
from __future__ import annotations

from .artifact import Artifact, Runner
from .backend import Backend, OnlySourceBuilt, require
from .capabilities import Availability, Capabilities
from .format_option import FormatOption
from .source import Source
from .tolerance import DEFAULT_TOLERANCES, Tolerance

__all__ = ["DEFAULT_TOLERANCES", "Artifact", "Availability", "Backend", "Capabilities", "FormatOption",
           "OnlySourceBuilt", "Runner", "Source", "Tolerance", "require"]
