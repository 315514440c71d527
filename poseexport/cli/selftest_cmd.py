"""`poseexport selftest` (being built)."""
from __future__ import annotations


def register(sub) -> None:
    """Not registered yet."""
