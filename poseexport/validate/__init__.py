"""Artifact validation: tensor, keypoint and detection parity against the PyTorch reference."""
from .parity import ParityReport, compare_outputs, validate_runner

__all__ = ["ParityReport", "compare_outputs", "validate_runner"]
