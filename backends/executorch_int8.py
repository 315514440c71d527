"""ExecuTorch int8: PT2E quantisation with ExecuTorch's XNNPACKQuantizer (converter process only).

What stays float (`keep_float`), chosen by the module each graph node was traced from (torch.export
records it in `nn_module_stack`), never by node names:
- "keypoints" (default): the head's own arithmetic (anchors, DFL, box and keypoint decode, the
  final concat: pixel coordinates and 0-1 scores would share one int8 scale) and the keypoint
  branch (`cv4`: its offsets lose about a point of pose mAP at int8, see tflite_keypoint_branch.py);
  the box and class branches of the head are int8 like the backbone and neck.
- "head": the whole head float, the backbone and neck int8. Not offered to users: ExecuTorch
  1.5.1's lowering fails on it (XNNPACK's ChannelsLastTaggedReshapePass: KeyError 'val' on an
  output node), measured on yolo11n-pose and the tiny network; kept for when that is fixed.
The XNNPACKQuantizer's filter function reaches its op patterns only (cat / view / slice that share
their input's qparams are annotated without it), so the float region is cleared after annotation:
with the head's decode partly int8, XNNPACK refused the program when loading it (XNNCompiler:
"Failed to create XNNMultiply node", xnn_status_invalid_parameter), measured on yolo11n-pose.
"""
from __future__ import annotations

KEEP_FLOAT = ("keypoints", "head")
# activation observers: min/max (fast) or PyTorch's HistogramObserver (the XNNPACKQuantizer default,
# which minimises the L2 rounding error but costs seconds per 640 px image: ~8 s measured here)
OBSERVERS = ("minmax", "histogram")
HEAD_TYPE = ".PoseHead"  # poseexport.nn.head.PoseHead, as nn_module_stack names its type
KEYPOINT_BRANCH, DFL = "cv4", "dfl"  # PoseHead's attribute names
ANNOTATION_KEY = "quantization_annotation"  # where PT2E quantizers put a node's annotation


def quantized_module(program, images, keep_float: str, observer: str, batch: int = 1):
    """The program's module with int8 quant/dequant pairs, calibrated on `images` (float32 NCHW) in
    batches of the program's static `batch`."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    if keep_float not in KEEP_FLOAT or observer not in OBSERVERS:
        raise ValueError(f"keep_float {keep_float!r} / observer {observer!r} not in {KEEP_FLOAT} / {OBSERVERS}")
    module = program.module()
    split_silu(module)
    if not any(_head_path(n) for n in module.graph.nodes):
        raise RuntimeError(f"no graph node was traced from a {HEAD_TYPE[1:]}: the float head cannot be found")
    class FloatHeadQuantizer(XNNPACKQuantizer):
        # the filter reaches the op patterns only: cat / view / slice annotations that share their
        # input's qparams are made without it, so the float region is cleared afterwards too
        def annotate(self, model):
            model = super().annotate(model)
            for node in model.graph.nodes:
                if stays_float(node, keep_float):
                    node.meta.pop(ANNOTATION_KEY, None)
            return model

    quantizer = FloatHeadQuantizer().set_global(_config(get_symmetric_quantization_config(is_per_channel=True),
                                                         observer))
    quantizer.set_filter_function(lambda node: not stays_float(node, keep_float))
    prepared = prepare_pt2e(module, quantizer)
    with torch.no_grad():
        for chunk in batches(images, batch):
            prepared(torch.from_numpy(chunk))
    return convert_pt2e(prepared)


def batches(images, batch: int):
    """`images` in chunks of exactly `batch`, one at a time (a static-batch program takes no other
    size); the last chunk is filled up with its own first image: min/max ranges are unchanged (a
    histogram counts that image twice)."""
    import numpy as np

    for i in range(0, len(images), batch):
        chunk = np.array(images[i:i + batch], dtype=np.float32)
        if len(chunk) < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch - len(chunk), axis=0)])
        yield chunk


def _config(config, observer: str):
    """The XNNPACK symmetric per-channel config, its activation observers swapped for min/max."""
    if observer == "histogram":
        return config
    from dataclasses import replace

    from torchao.quantization.pt2e.observer import MinMaxObserver

    def minmax(spec):
        return replace(spec, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2 ** -12))

    return replace(config, input_activation=minmax(config.input_activation),
                   output_activation=minmax(config.output_activation))


def stays_float(node, keep_float: str) -> bool:
    """Is this node left unquantised by the recipe `keep_float`?"""
    head = _head_path(node)
    if head is None:
        return False
    if keep_float == "head":
        return True
    inner = _module_path(node)
    return inner == head or inner.startswith((f"{head}.{KEYPOINT_BRANCH}", f"{head}.{DFL}"))


def split_silu(module) -> int:
    """Rewrite every SiLU as x * sigmoid(x) in place; returns how many. The quantizer then
    annotates the multiply with int8 inputs and output, which XNNPACK runs as one int8 multiply.
    A SiLU left whole is decomposed during lowering into that same multiply with a float sigmoid
    input between int8 tensors, and XNNPACK refuses the graph."""
    import torch

    count = 0
    graph = module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target in (torch.ops.aten.silu.default, torch.ops.aten.silu_.default):
            with graph.inserting_after(node):
                sigmoid = graph.call_function(torch.ops.aten.sigmoid.default, (node.args[0],))
                sigmoid.meta = dict(node.meta)
            with graph.inserting_after(sigmoid):
                product = graph.call_function(torch.ops.aten.mul.Tensor, (node.args[0], sigmoid))
                product.meta = dict(node.meta)
            node.replace_all_uses_with(product)
            graph.erase_node(node)
            count += 1
    graph.lint()
    module.recompile()
    return count


def _head_path(node) -> str | None:
    for path, kind in (node.meta.get("nn_module_stack") or {}).values():
        if _type_name(kind).endswith(HEAD_TYPE):
            return path
    return None


def _type_name(kind) -> str:
    """nn_module_stack holds the class itself in a fresh program, its dotted name in a loaded one."""
    return f"{kind.__module__}.{kind.__qualname__}" if isinstance(kind, type) else str(kind)


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack.values())[-1][0] if stack else ""
