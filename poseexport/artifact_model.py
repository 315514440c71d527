"""ArtifactModel: an exported artifact behind the same predict / stream / val surface as PoseModel.

Every runtime goes through exactly the PyTorch path's pre- and post-processing; only
`forward_numpy` differs (the Runner's `infer`).
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

    def __repr__(self) -> str:
        m = self.metadata
        return f"ArtifactModel({m.format} {m.precision.name}: {self.source})"


def open_model(model: str | Path, device: str = "cpu", verify: bool = True):
    """A PoseModel for checkpoints and configs, an ArtifactModel for exported artifacts
    (`verify`: check the artifact's files against its manifest first)."""
    if isinstance(model, (str, Path)) and Path(model).is_dir() and not is_artifact(model):
        check_model_folder(Path(model))
        return ArtifactModel(model, device=device, verify=verify)  # an IR folder without sidecar: sniffed by load
    if is_artifact(model):
        return ArtifactModel(model, device=device, verify=verify)
    from .model import PoseModel

    return PoseModel(model, device=device)
