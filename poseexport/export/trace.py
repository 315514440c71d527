"""Trace once: the export-mode network as a torch.export program, with its facts and references.

The TracedModel is the single source every backend starts from: the ExportedProgram
(and the ONNX file derived from it once, for every backend whose source is ONNX),
the input/output spec, the model facts, and reference outputs of the PyTorch model
on fixed real images (poseexport's shipped photos plus a few `--data` images, see
validate/reference_images.py), against which every artifact is compared.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..decode.head_outputs import head_output_specs
from ..errors import ExportFailedError
from ..keypoints import default_keypoint_facts
from ..metadata import InputSpec, ModelFacts, OutputSpec, output_channels
from ..predict.letterbox import preprocess
from ..validate.reference_images import reference_images
from .nms_head import NmsWrapper
from .options import ExportOptions


@dataclass
class TracedModel:
    module: nn.Module  # export-mode module (fused, eval, float32; with NMS when asked)
    program: torch.export.ExportedProgram
    example: torch.Tensor
    input_spec: InputSpec
    output_spec: OutputSpec  # the decoded prediction the references hold ("raw" or "nms")
    facts: ModelFacts
    source_sha256: str | None
    reference_inputs: np.ndarray  # (R, 3, H, W) float32
    reference_names: list[str]
    reference_outputs: np.ndarray  # (R, C, N) or (R, max_det, 6+nk)
    work_dir: Path | None = None
    derived: dict = field(default_factory=dict)  # upstream artifacts built once, by (format, precision, options)
    # what the exported graph returns: (output_spec,) when it decodes in the graph; the raw head
    # maps of every level with `--decode host` (poseexport/decode/)
    artifact_outputs: tuple[OutputSpec, ...] = ()

    def __post_init__(self):
        if not self.artifact_outputs:
            self.artifact_outputs = (self.output_spec,)


def trace_model(model, options: ExportOptions, work_dir: Path) -> TracedModel:
    """Fuse a copy of the model, wrap it for export, torch.export it, compute references."""
    net = copy.deepcopy(model.net).float().cpu().eval().fuse()
    for p in net.parameters():
        p.requires_grad_(False)
    module: nn.Module = net
    if options.nms:
        module = NmsWrapper(net, conf=options.conf, iou=options.iou, max_det=options.max_det)
    graph_module = module
    if options.decode == "host":  # the graph ends at the head's raw maps; references stay decoded
        graph_module = copy.deepcopy(net)
        graph_module.head.raw_maps = True
    h, w = options.imgsz
    strides = [int(s) for s in net.stride.tolist()]
    stride = max(strides)
    # torch.export specialises a dimension traced at size 1, so a dynamic batch traces at 2
    example = torch.zeros(max(options.batch, 2) if options.dynamic else options.batch, 3, h, w)
    dynamic_shapes = None
    if options.dynamic:
        batch = torch.export.Dim("batch", min=1, max=64)
        hh = torch.export.Dim("h_strides", min=1, max=64)
        ww = torch.export.Dim("w_strides", min=1, max=64)
        dynamic_shapes = {"x": {0: batch, 2: stride * hh, 3: stride * ww}}
    try:
        with torch.no_grad():
            program = torch.export.export(graph_module, (example,), dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as err:  # torch.export raises many kinds; keep its message
        raise ExportFailedError("Tracing the model with torch.export failed", str(err).splitlines()[0],
                                "report this with the model config; try without --dynamic / --nms") from err

    names = dict(model.names)
    kpt_shape = tuple(net.kpt_shape)
    kpt_names, skeleton, flip_idx = default_keypoint_facts(kpt_shape)
    facts = ModelFacts(task="pose", names=names, kpt_shape=kpt_shape, keypoint_names=kpt_names,
                       skeleton=skeleton, flip_idx=flip_idx, stride=stride, imgsz=(h, w),
                       arch=str(model.arch_name))
    in_shape = ("batch" if options.dynamic else options.batch, 3,
                "height" if options.dynamic else h, "width" if options.dynamic else w)
    input_spec = InputSpec(name="images", shape=in_shape)
    nk = kpt_shape[0] * kpt_shape[1]
    if options.nms:
        output_spec = OutputSpec(
            name="output0", shape=(in_shape[0], options.max_det, 6 + nk), kind="nms",
            channels=("x1", "y1", "x2", "y2", "score", "class") + output_channels(
                0, kpt_shape, names, kpt_names)[4:])
    else:
        anchors = "anchors" if options.dynamic else sum((h // s) * (w // s) for s in strides)
        output_spec = OutputSpec(name="output0", shape=(in_shape[0], 4 + net.nc + nk, anchors),
                                 kind="raw", channels=output_channels(net.nc, kpt_shape, names, kpt_names))
    artifact_outputs = (output_spec,)
    if options.decode == "host":
        artifact_outputs = head_output_specs(strides, (h, w), in_shape[0], net.nc, kpt_shape, names, kpt_names,
                                             net.head.reg_max, options.dynamic)
    ref_names, ref_inputs, ref_outputs = _references(module, (h, w), stride, options.data)
    sha = getattr(getattr(model, "checkpoint", None), "sha256", None)
    return TracedModel(module=module, program=program, example=example, input_spec=input_spec,
                       output_spec=output_spec, facts=facts, source_sha256=sha,
                       reference_inputs=ref_inputs, reference_names=ref_names,
                       reference_outputs=ref_outputs, work_dir=work_dir, artifact_outputs=artifact_outputs)


def _references(module: nn.Module, imgsz: tuple[int, int], stride: int, data: str | None):
    """(names, letterboxed inputs, PyTorch outputs) on the reference images."""
    names, images = reference_images(data)
    inputs, _ = preprocess(images, imgsz, stride=stride)
    return names, inputs, _run(module, inputs)


def _run(module: nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([module(torch.from_numpy(inputs[i:i + 1])).numpy()
                               for i in range(len(inputs))])


@dataclass
class ReferenceSet:
    """Reference outputs of a PyTorch model for an existing artifact (what validate compares)."""

    facts: ModelFacts
    output_spec: OutputSpec
    reference_inputs: np.ndarray
    reference_names: list[str]
    reference_outputs: np.ndarray


def reference_set(model, metadata) -> ReferenceSet:
    """Recompute the references an artifact was validated against, from its PyTorch source
    (the shipped photos, and the export's `--data` images where that folder is still there)."""
    net = copy.deepcopy(model.net).float().cpu().eval().fuse()
    module: nn.Module = net
    if metadata.outputs[0].kind == "nms":
        opts = metadata.options
        module = NmsWrapper(net, conf=opts.get("conf", ExportOptions.conf),
                            iou=opts.get("iou", ExportOptions.iou),
                            max_det=opts.get("max_det", ExportOptions.max_det))
    names, inputs, outputs = _references(module, tuple(metadata.model.imgsz), metadata.model.stride,
                                         metadata.options.get("data"))
    return ReferenceSet(facts=metadata.model, output_spec=metadata.outputs[0], reference_inputs=inputs,
                        reference_names=names, reference_outputs=outputs)
