"""`model.val(...)` for every model kind (PyTorch checkpoints and exported artifacts).

A mixin beside predict's `PredictsPoses` rather than inside it: val builds on predict (letterbox,
NMS, sources), so predict must not reach back into val.
"""
from __future__ import annotations


class ValidatesPoses:
    """Mixed into a class that is also `PredictsPoses` (validate_model uses its predict surface)."""

    def val(self, data=None, **options):
        """Box and pose mAP on a dataset yaml (default: the data this model last used); see poseexport.val."""
        from . import validate_model

        return validate_model(self, data, **options)
