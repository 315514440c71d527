"""OpenVINO INT8: NNCF post-training quantisation with the pose decode kept in float.

The raw output concatenates pixel coordinates (hundreds) with 0-1 scores; quantising
the decode (DFL softmax, anchor arithmetic, the final concat) with one int8 scale would
wipe out the scores. The decode is found by structure, not by name: every node between
the head's last convolutions and the output (the DFL convolution, which follows a
Softmax, counts as decode). NNCF's ignored scope, run in float, is that decode, the
last convolution of every head branch and the whole keypoint branches (keypoint
offsets are multiplied by the stride, so an int8 step there is pixels); the backbone,
the neck and the rest of the box and score branches are int8.
"""
from __future__ import annotations

import logging

from poseexport.contract import require
from poseexport.errors import ExportFailedError

SHAPE_ONLY = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Convert"}
# 7-bit weights in every conv (NNCF's default is the first conv only): on x86 without VNNI
# the int8 kernels add u8 x s8 pairs into a saturating int16. Measured on yolo11n-pose (211
# calibration images; bus.jpg on an AMX Xeon vs qemu -cpu Haswell): first layer only, raw
# outputs 34 px apart, pose mAP50-95 0.535; every layer, bit-identical, 0.540 (fp32 0.535),
# same latency (44 / 25 ms at 1 / 2 threads)
OVERFLOW_FIX = "enable"


def quantize_int8(model, ctx):
    """Quantise an ov.Model on the calibration images; returns (model, method description).

    Chosen by measurement on yolo11n-pose and real images: a quantised decode costs 7
    box mAP points; full bias correction halves the worst raw score error (0.41 vs 0.86);
    float last head convolutions cut the matched keypoint error (1.4 px vs 2.2); the
    PERFORMANCE preset (symmetric activations) is worse on every count. Pose mAP50-95
    on coco-val-pose against fp32 (f32 hint): float last convs only −1.8 points, all
    head branches float −0.9 (but slower than fp32 under OpenVINO's bf16 default), the
    keypoint branches float −0.4 (and faster); only the last two keypoint
    convolutions float −1.0.
    """
    nncf = require("nncf", "openvino")
    decode, head_convs = pose_decode_scope(model)
    k, d = ctx.metadata.model.kpt_shape
    keypoint_convs = [group for group in head_convs if _out_channels(model, group) == k * d]
    if len(keypoint_convs) * 3 != len(head_convs):  # channel counts can't tell the branches apart
        keypoint_convs = head_convs
    branches = head_branch_scope(model, keypoint_convs)
    last_convs = [name for group in head_convs for name in group]
    ignored = list(dict.fromkeys(decode + last_convs + branches))
    count = len(ctx.calibration.images)
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.WARNING)  # NNCF logs one INFO line per ignored node
    try:
        quantized = nncf.quantize(
            model, nncf.Dataset(list(ctx.calibration.batches(1))), preset=nncf.QuantizationPreset.MIXED,
            subset_size=count, fast_bias_correction=False,
            ignored_scope=nncf.IgnoredScope(names=ignored, validate=False),
            advanced_parameters=nncf.AdvancedQuantizationParameters(overflow_fix=nncf.OverflowFix(OVERFLOW_FIX)))
    except Exception as err:
        raise ExportFailedError("NNCF could not quantise the OpenVINO model", f"{type(err).__name__}: {err}",
                                "export fp16 instead, or report it with the model config") from err
    finally:
        logger.setLevel(level)
    method = (f"nncf {nncf.__version__} post-training quantization: preset mixed, full bias correction, "
              f"overflow fix {OVERFLOW_FIX}, {count} images; float: the pose decode ({len(decode)} nodes), "
              f"the last head convolutions and the keypoint branches ({len(branches)} nodes)")
    return quantized, method


def pose_decode_scope(model) -> tuple[list[str], list[list[str]]]:
    """Friendly names of the decode nodes (between the last head convolutions and the
    outputs), and of each last head convolution (with its bias Add)."""
    decode: list[str] = []
    convs: list[list[str]] = []

    def next_up(node) -> list:
        name, kind = node.get_friendly_name(), node.get_type_name()
        if _is_head_conv(node):  # the boundary: record it, don't walk into the network
            producers = _producers(node) if kind == "Add" else []
            convs.append([name] + [p.get_friendly_name() for p in producers if p.get_type_name() == "Convolution"])
            return []
        decode.append(name)
        # a ShapeOf only reads its input's shape: that input belongs to the network, not the decode
        return [] if kind == "ShapeOf" else _producers(node)

    _walk_up([r.input(0).get_source_output().get_node() for r in model.get_results()], next_up)
    return decode, convs


def head_branch_scope(model, head_convs: list[list[str]]) -> list[str]:
    """Friendly names of every node of the head branches, from the last head convolutions
    back to the neck outputs: the walk climbs while an output feeds a single input (a
    neck output feeds several branches and stops it)."""
    nodes = {n.get_friendly_name(): n for n in model.get_ops()}
    names: list[str] = []

    def next_up(node) -> list:
        names.append(node.get_friendly_name())
        up = []
        for port in node.inputs():
            source = port.get_source_output()
            users = sorted(u.get_node().get_type_name() for u in source.get_target_inputs())
            if len(users) == 1 or users == ["Multiply", "Sigmoid"]:  # an unfused SiLU counts as one
                up.append(source.get_node())
        return up

    _walk_up([nodes[name] for group in head_convs for name in group if name in nodes], next_up)
    return names


def _walk_up(starts: list, next_up) -> None:
    """Visit nodes towards the inputs, each once; `next_up(node)` handles a node and returns
    the producers to visit next. Constants and Parameters are never visited."""
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        name = node.get_friendly_name()
        if name in seen:
            continue
        seen.add(name)
        if node.get_type_name() not in ("Constant", "Parameter"):
            stack += next_up(node)


def _out_channels(model, group: list[str]) -> int | None:
    node = next((n for n in model.get_ops() if n.get_friendly_name() == group[0]), None)
    shape = node.get_output_partial_shape(0) if node is not None else None
    return shape[1].get_length() if shape is not None and shape[1].is_static else None


def _producers(node) -> list:
    return [i.get_source_output().get_node() for i in node.inputs()]


def _is_head_conv(node) -> bool:
    """A convolution, or its bias Add, that is not the DFL convolution (which follows a Softmax)."""
    kind = node.get_type_name()
    if kind == "Add":
        producers = _producers(node)
        convs = [p for p in producers if p.get_type_name() == "Convolution"]
        if not convs or not any(p.get_type_name() == "Constant" for p in producers):
            return False
        node = convs[0]
    elif kind != "Convolution":
        return False
    return not _follows_softmax(node.input(0).get_source_output().get_node())


def _follows_softmax(node) -> bool:
    while node.get_type_name() in SHAPE_ONLY:
        node = node.input(0).get_source_output().get_node()
    return node.get_type_name() in ("Softmax", "SoftMax")
