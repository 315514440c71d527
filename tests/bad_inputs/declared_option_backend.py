"""A third-party format for the format-option tests: the real ONNX backend under another name,
declaring one option of its own (`--tint`, a choice) on top of the ONNX ones it inherits.

Registered through POSEEXPORT_EXTRA_BACKENDS (this folder on PYTHONPATH), as a plugin that is
not installed as a package would be. The option does nothing to the file; the metadata's
`options` record shows whether it reached the export.
"""
from __future__ import annotations

from poseexport.backends.onnx import OnnxBackend
from poseexport.contract import FormatOption


class TintedOnnxBackend(OnnxBackend):
    name = "tinted"
    title = "Tinted ONNX"
    options = (*OnnxBackend.options,
               FormatOption("tint", str, "plain", "a label recorded in the metadata", choices=("plain", "sepia")))
