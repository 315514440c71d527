"""ArtifactModel: an exported artifact behind the same predict / stream / val surface as PoseModel.

`PoseModel(path)` of an artifact (file or folder) returns one (poseexport/model.py), as does
`open_model` (poseexport/model_opener.py). Every runtime goes through exactly the PyTorch path's
pre- and post-processing; only `forward_numpy` differs (the Runner's `forward`). Exporting and
training need the network's weights, which an artifact does not carry as PyTorch: both refuse.
This module imports no torch (predict and val of artifacts run where torch is absent).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UnsupportedOptionError
from .model_folder import check_model_folder
from .predict.api import PredictsPoses
from .runtime import is_artifact, load
from .val.api import ValidatesPoses


class ArtifactModel(PredictsPoses, ValidatesPoses):
    """An opened artifact with predict / stream / val (and `runner`, `metadata`)."""

    def __init__(self, path: str | Path, device: str = "cpu", verify: bool = True):
        self.runner = load(path, device=device, verify=verify)
        self.metadata = self.runner.metadata
        self.names = dict(self.runner.names)
        self.arch_name = self.metadata.model.arch
        self.source = Path(path)
        self.checkpoint = None

    @property
    def kpt_shape(self) -> tuple[int, int]:
        return self.runner.kpt_shape

    @property
    def stride(self) -> int:
        return self.runner.stride

    @property
    def fixed_imgsz(self) -> tuple[int, int] | None:
        h, w = self.metadata.inputs[0].shape[2:4] if self.metadata.inputs[0].layout == "NCHW" \
            else self.metadata.inputs[0].shape[1:3]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    def resolve_imgsz(self, imgsz) -> tuple[int, int] | int:
        """The artifact's own size when none is asked; a different fixed size is refused."""
        fixed = self.fixed_imgsz
        if imgsz is None:
            return fixed or 640
        asked = (imgsz, imgsz) if isinstance(imgsz, int) else tuple(imgsz)
        if fixed and tuple(asked) != tuple(fixed):
            raise UnsupportedOptionError(
                f"Image size {list(asked)} was asked of an artifact exported at {list(fixed)}",
                "its input shape is fixed", f"use --imgsz {fixed[0]},{fixed[1]} or export with --dynamic")
        return imgsz

    def forward_numpy(self, batch: np.ndarray) -> np.ndarray:
        if self.metadata.outputs[0].kind == "nms":
            raise UnsupportedOptionError(
                "This artifact was exported with in-graph NMS",
                "predict and val decode the raw output themselves",
                "export without --nms to predict or validate with poseexport")
        fixed_batch = self.runner.batch
        n = len(batch)
        if fixed_batch and n != fixed_batch:  # static batch: pad, run, cut
            outs = []
            for i in range(0, n, fixed_batch):
                part = batch[i:i + fixed_batch]
                pad = np.zeros((fixed_batch - len(part), *part.shape[1:]), part.dtype)
                outs.append(self.runner.forward(np.concatenate([part, pad]))[:len(part)])
            return np.concatenate(outs)
        return self.runner.forward(batch)

    def info(self) -> dict:
        """What the artifact is: format, precision, input, names, keypoints, validation at export."""
        from .validation_status import status_of

        m = self.metadata
        return {"model": self.arch_name, "format": m.format, "precision": m.precision.name,
                "input": list(m.inputs[0].shape), "names": self.names, "kpt_shape": list(self.kpt_shape),
                "validation": status_of(m.validation), "path": str(self.source)}

    def export(self, format: str = "onnx", log=print, **options):
        """Refused: exporting traces the PyTorch network, which an artifact does not hold."""
        raise self.needs_pytorch("export")

    def train(self, data=None, **options):
        """Refused: training updates PyTorch weights, which an artifact does not hold."""
        raise self.needs_pytorch("train")

    def needs_pytorch(self, action: str) -> UnsupportedOptionError:
        """The error for `action` (export, train) asked of an artifact."""
        m = self.metadata
        return needs_pytorch(self.source, action, f"an exported {m.format} {m.precision.name} artifact",
                             m.model.arch)

    def __repr__(self) -> str:
        m = self.metadata
        return f"ArtifactModel({m.format} {m.precision.name}: {self.source})"


def needs_pytorch(source, action: str, what: str = "an exported artifact",
                  arch: str = "yolo11n-pose") -> UnsupportedOptionError:
    return UnsupportedOptionError(
        f"Cannot {action} {source}: it is {what}",
        f"{action} needs the PyTorch model (its network and weights); an artifact can predict, stream and val",
        f"pass the checkpoint (.pt) or config (.yaml) it came from, e.g. --model {arch}.pt "
        f"(Python: PoseModel('{arch}.pt').{action}(...))")


def refuse_artifact(model, action: str) -> None:
    """`action` needs a PyTorch model: an ArtifactModel, or a path PoseModel would open as one, is refused."""
    if isinstance(model, ArtifactModel):
        raise model.needs_pytorch(action)
    if opens_as_artifact(model):
        raise needs_pytorch(model, action)


def opens_as_artifact(model) -> bool:
    """Is `model` an exported artifact (file or folder) rather than a checkpoint or config? A folder
    that is neither an artifact nor an OpenVINO IR pair is refused here, named for what it holds."""
    if not isinstance(model, (str, Path)):
        return False
    path = Path(model)
    if path.is_dir():
        if not is_artifact(path):
            check_model_folder(path)  # raises, except for an IR folder without sidecar (load sniffs it)
        return True
    return is_artifact(path)
