"""The keypoint branch of the ONNX that MNN converts: the nodes whose results reach only the
keypoint outputs. The `float-keypoints` MNN int8 kind hands their names to MNN's quantiser
(`skip_quant_op_names`), which leaves them in float (converter process only).

Why: int8 keypoint maps cost yolo11n-pose about a point of pose mAP50-95 by their output rounding
alone (measured for TFLite, backends/tflite_keypoint_branch.py); the box and score branches and
the backbone stay int8. MNN names each converted op after its ONNX node's first output.
"""
from __future__ import annotations

KEYPOINT_MEANINGS = ("keypoint_offsets", "keypoint_visibility")


def keypoint_branch_ops(onnx_path: str, output_names: list[str]) -> list[str]:
    """The first output name of every node that feeds only `output_names`, walking back from them
    until a tensor also feeds something else (the neck feature the other branches read too)."""
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    outputs = {o.name for o in graph.output}
    missing = [n for n in output_names if n not in outputs]
    if missing:
        raise RuntimeError(f"the ONNX has no output {missing} (it has {sorted(outputs)})")
    producer = {t: i for i, node in enumerate(graph.node) for t in node.output}
    consumers: dict[str, set[int]] = {}
    for i, node in enumerate(graph.node):
        for t in node.input:
            consumers.setdefault(t, set()).add(i)
    branch = {producer[n] for n in output_names if n in producer}
    grown = True
    while grown:  # a node joins once every reader of its result is in the branch
        grown = False
        for i in list(branch):
            for t in graph.node[i].input:
                if t in producer and producer[t] not in branch and consumers[t] <= branch and t not in outputs:
                    branch.add(producer[t])
                    grown = True
    return [graph.node[i].output[0] for i in sorted(branch)]
