"""The keypoint branch of a calibrated TFLite graph: the ops whose results reach only the keypoint
outputs. The `float-keypoints` int8 kind keeps exactly these in float (converter process only).

Why: on yolo11n-pose at 640 (coco-val-pose, 36 images) int8 keypoint maps cost a point of pose
mAP50-95 by their output rounding alone (an fp32 model whose three keypoint maps were rounded to
int8 in numpy: 0.5354 -> 0.5248), and the two 3x3 convolutions before them most of another; with
these ops in float and everything else int8 the drop is 0.26 point against 2.26 for the
full-integer kind (docs/tf-family.md), for 4 convolutions per level (about an eighth of the
multiply-adds). The ONNX / OpenVINO int8 recipe keeps the whole head float for the same reason
(backends/onnx_int8.py).
"""
from __future__ import annotations

KEYPOINT_MEANINGS = ("keypoint_offsets", "keypoint_visibility")


def keypoint_branch_nodes(calibrated: bytes, output_names: list[str]) -> list[str]:
    """The names (each op's first output tensor, what TensorFlow's quantizer matches) of every op
    that feeds only the given signature outputs, walking back from them until a tensor also
    feeds something else (the shared neck feature the box and score branches read too)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    graph = model.subgraphs[0]
    signature = model.signatureDefs[0] if model.signatureDefs else None
    if signature is None:
        raise RuntimeError("the calibrated TFLite model has no signature: its outputs cannot be named")
    by_name = {t.name.decode(): int(t.tensorIndex) for t in signature.outputs}
    missing = [n for n in output_names if n not in by_name]
    if missing:
        raise RuntimeError(f"the TFLite signature has no output {missing} (it has {sorted(by_name)})")
    producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    consumers: dict[int, set[int]] = {}
    for i, op in enumerate(graph.operators):
        for t in op.inputs:
            consumers.setdefault(int(t), set()).add(i)
    branch = {producer[by_name[n]] for n in output_names if by_name[n] in producer}
    grown = True
    while grown:  # an op joins once every reader of its result is in the branch
        grown = False
        for op in list(branch):
            for t in (int(t) for t in graph.operators[op].inputs):
                if t in producer and producer[t] not in branch and consumers[t] <= branch \
                        and t not in graph.outputs:
                    branch.add(producer[t])
                    grown = True
    return [graph.tensors[graph.operators[i].outputs[0]].name.decode() for i in sorted(branch)]
