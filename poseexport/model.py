"""PoseModel: the Python entry point (build, load, predict, save, train, export).

    PoseModel("yolo11n-pose.pt").predict("bus.jpg")   # official or own weights
    PoseModel("yolo11n-pose.yaml")                    # a new, untrained network
    PoseModel("yolo11n-pose.yaml").load("best.pt")    # transfer matching weights
    PoseModel("yolo11n-pose_onnx").predict("bus.jpg") # any exported artifact, file or folder

An artifact opens as an ArtifactModel (poseexport/artifact_model.py): the same predict / stream /
val, run by the artifact's runtime; its export and train refuse (they need the PyTorch model).
It is not a PoseModel subclass — it holds no network — so `isinstance(m, ArtifactModel)` tells
the two apart.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .checkpoint.loader import LoadedCheckpoint, load_checkpoint
from .checkpoint.native import save_native
from .errors import UnsupportedOptionError
from .nn.config import BadConfigError, resolve_arch
from .nn.network import PoseNet
from .paths import DEFAULT_MODEL
from .predict.api import PredictsPoses
from .val.api import ValidatesPoses
from .weights import resolve_weights


class PoseModel(PredictsPoses, ValidatesPoses):
    """A pose network with its class names and keypoint layout. Given an exported artifact
    (file or folder), `PoseModel(path)` returns an ArtifactModel instead (see the module doc)."""

    def __new__(cls, model: str | Path = DEFAULT_MODEL, *, nc: int | None = None,
                kpt_shape: tuple[int, int] | None = None, device: str = "cpu", verify: bool = True):
        from .artifact_model import ArtifactModel, opens_as_artifact

        if not opens_as_artifact(model):
            return super().__new__(cls)
        if nc is not None or kpt_shape is not None:
            raise UnsupportedOptionError(
                "nc and kpt_shape apply only when building a new model from a config",
                f"'{model}' is an exported artifact and keeps the layout it was exported with",
                "build from a yaml (e.g. yolo11n-pose.yaml) instead")
        return ArtifactModel(model, device=device, verify=verify)  # not a PoseModel: __init__ is skipped

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, nc: int | None = None,
                 kpt_shape: tuple[int, int] | None = None, device: str = "cpu", verify: bool = True):
        """`verify` applies to artifacts only (their files checked against their manifest)."""
        if not isinstance(model, (str, Path)):
            raise UnsupportedOptionError(
                f"PoseModel cannot be built from {model!r:.60} (of type {type(model).__name__})",
                "it takes a checkpoint path (.pt), a config (.yaml or a model_zoo name such as "
                "yolo11n-pose), a bare weights name such as yolo11n-pose.pt, or an exported artifact "
                "(file or folder)",
                "pass one of those as a str or pathlib.Path")
        self.device = parse_device(device)
        self.checkpoint: LoadedCheckpoint | None = None
        if is_architecture_name(model):
            spec = resolve_arch(model)
            self.net = PoseNet(spec.config, spec.scale, nc=nc, kpt_shape=kpt_shape)
            self.arch_name = spec.name
            self.names = {i: ("person" if self.net.nc == 1 else f"class{i}") for i in range(self.net.nc)}
            self.source = None
        else:
            if nc is not None or kpt_shape is not None:
                raise UnsupportedOptionError(
                    "nc and kpt_shape apply only when building a new model from a config",
                    f"'{model}' is a checkpoint and keeps the layout it was trained with",
                    "build from a yaml (e.g. yolo11n-pose.yaml) and .load() the weights instead")
            self.checkpoint = load_checkpoint(resolve_weights(model))
            self.net = self.checkpoint.net
            self.names = self.checkpoint.names
            self.arch_name = Path(str(model)).stem
            self.source = self.checkpoint.source
        self.net.to(self.device).eval()

    # ---- facts -------------------------------------------------------------------------
    @property
    def kpt_shape(self) -> tuple[int, int]:
        return tuple(self.net.kpt_shape)

    @property
    def stride(self) -> int:
        return int(self.net.stride.max().item())

    def info(self) -> dict:
        """Layer and parameter counts (unfused and, if not yet fused, as fused)."""
        params = self.net.num_parameters()
        return {"model": self.arch_name, "layers": len(self.net.model), "parameters": params,
                "fused": self.net.is_fused, "nc": self.net.nc, "kpt_shape": list(self.kpt_shape),
                "names": self.names, "strides": [int(s) for s in self.net.stride.tolist()]}

    # ---- weights -----------------------------------------------------------------------
    def load(self, weights: str | Path) -> PoseModel:
        """Copy every tensor of `weights` whose name and shape match; report how many did."""
        other = load_checkpoint(resolve_weights(weights))
        ours = self.net.state_dict()
        theirs = other.net.state_dict()
        matched = {k: v for k, v in theirs.items() if k in ours and ours[k].shape == v.shape}
        self.net.load_state_dict(matched, strict=False)
        self.transferred = (len(matched), len(ours))
        self.transferred_keys = tuple(matched)
        if self.names and other.net.nc == self.net.nc:
            self.names = other.names
        return self

    def save(self, path: str | Path) -> Path:
        """Write poseexport's safe checkpoint format (tensors + JSON)."""
        facts = {"names": self.names, "arch": self.arch_name, "fused": self.net.is_fused}
        if self.checkpoint is not None:
            facts["imported_from"] = {"path": str(self.checkpoint.source),
                                      "sha256": self.checkpoint.sha256,
                                      "origin": self.checkpoint.origin}
        return save_native(path, self.net.state_dict(), self.net.cfg, facts)

    def fuse(self) -> PoseModel:
        self.net.eval().fuse()
        return self

    # ---- inference ---------------------------------------------------------------------
    def forward_numpy(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) float32 RGB in [0, 1] -> raw (B, 4 + nc + K*D, N) predictions."""
        self.net.eval()
        with torch.inference_mode():
            out = self.net(torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy()

    def __repr__(self) -> str:
        info = self.info()
        return (f"PoseModel({self.arch_name}: {info['layers']} layers, {info['parameters']:,} "
                f"parameters, kpt_shape={info['kpt_shape']}, names={self.names})")

    def train(self, data: str | Path | None = None, *, resume: str | Path | None = None,
              callbacks: dict | None = None, **options):
        """Train on the dataset yaml `data` (options: see poseexport.train.TrainOptions, e.g.
        epochs, imgsz, batch, optimizer, lr0, freeze, mosaic, pose) or continue the run in
        `resume`; afterwards this model holds the best weights. Returns the TrainResult."""
        from .train.options import TrainOptions
        from .train.trainer import train

        options.setdefault("device", str(self.device))
        result = train(self, data, TrainOptions.from_kwargs(**options), resume=resume, callbacks=callbacks)
        trained = load_checkpoint(result.best or result.last)
        self.checkpoint, self.net, self.names = trained, trained.net.to(self.device).eval(), trained.names
        self.source = trained.source
        self.data = trained.facts.get("train", {}).get("data", data)
        return result

    def export(self, format: str = "onnx", log=print, **options):
        """Export to `format` (see `poseexport formats`); returns the Artifact (validated by default).
        `options`: those every format shares (poseexport.export.options.ExportOptions: imgsz,
        half, int8, data, nms, device, out, ...) and the format's own (e.g. opset=18 for ONNX,
        mobile=True for TorchScript); one the format does not take is refused before any work."""
        from .export.options import ExportOptions
        from .export.pipeline import export_model

        return export_model(self, ExportOptions.from_kwargs(format, **options), log=log)


def is_architecture_name(model: str | Path) -> bool:
    """yaml files and model_zoo config names build a new network; anything else is weights."""
    text = str(model)
    if text.endswith((".yaml", ".yml")):
        return True
    return Path(text).suffix == "" and not Path(text).exists() and _zoo_has(text)


def _zoo_has(name: str) -> bool:
    try:
        resolve_arch(name)
        return True
    except BadConfigError:
        return False


def parse_device(device: str | torch.device) -> torch.device:
    """`--device` for PyTorch: refused unless this torch build can really run there."""
    from .device import parse_device as parse

    dev = parse(device)
    if dev.kind == "cuda":
        if not torch.cuda.is_available():
            raise UnsupportedOptionError(f"Device '{device}' was asked for",
                                         f"this PyTorch build ({torch.__version__}) sees no CUDA GPU",
                                         "use --device cpu, or install a CUDA build of torch on a GPU machine")
        count = torch.cuda.device_count()
        if dev.index >= count:
            raise UnsupportedOptionError(f"Device '{device}' was asked for",
                                         f"this machine has {count} CUDA GPU(s): cuda:0 to cuda:{count - 1}",
                                         "pass one of those")
    return torch.device(str(dev))
