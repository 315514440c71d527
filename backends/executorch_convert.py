"""Runs in the converter process: the saved torch.export program -> an ExecuTorch .pte on XNNPACK.

fp32: `to_edge_transform_and_lower` with the XNNPACK partitioner, then `to_executorch`. int8: PyTorch's
PT2E flow first (torchao's prepare_pt2e / convert_pt2e with ExecuTorch's XNNPACKQuantizer: int8
per-channel symmetric weights, int8 per-tensor activations from histogram observers), calibrated on
the request's images; the quantised module is exported again and lowered the same way. The metadata
JSON goes into the program as a constant method (METADATA_METHOD) next to `forward`.

This process imports torch, torchao and ExecuTorch's exir: out of the exporting process, because
torchao and exir register ops, patch pytree classes and load native libraries on import.
"""
from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from poseexport.contract.converter_process import read_calibration, read_metadata

from .executorch import METADATA_METHOD, PTE_SUFFIX
from .executorch_int8 import batches, quantized_module


def convert(request: dict) -> dict:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
        XnnpackPartitioner,
    )
    from executorch.exir import to_edge_transform_and_lower

    options = request["options"]
    metadata = read_metadata(request)
    program = torch.export.load(request["source"])
    if options["precision"] == "int8":
        images = read_calibration(request)
        if images is None or not len(images):
            raise RuntimeError("int8 needs calibration images and the request has none")
        batch = input_shape(program)[0]
        example = torch.from_numpy(next(batches(images, batch)))
        module = quantized_module(program, images, options["keep_float"], options["observer"], batch)
        with torch.no_grad():
            program = torch.export.export(module, (example,), strict=False)
    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                       constant_methods={METADATA_METHOD: metadata.to_json()})
    undelegated = _undelegated_ops(edge)
    pte = Path(request["out_dir"]) / f"{request['stem']}{PTE_SUFFIX}"
    pte.write_bytes(edge.to_executorch().buffer)
    return {"model": str(pte), "executorch": md.version("executorch"), "torchao": md.version("torchao"),
            "undelegated": undelegated}


def input_shape(program) -> tuple[int, ...]:
    """The static shape of the program's one image input."""
    name = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == name)
    return tuple(int(d) for d in node.meta["val"].shape)


def _undelegated_ops(edge) -> dict[str, int]:
    """op name -> count of the ops left outside the XNNPACK delegate (run by ExecuTorch's portable
    kernels, much slower): what the metadata notes say about the lowering."""
    counts: dict[str, int] = {}
    for node in edge.exported_program().graph.nodes:
        if node.op != "call_function":
            continue
        name = getattr(node.target, "__name__", str(node.target))
        if "executorch_call_delegate" in name or name == "getitem":
            continue
        counts[name] = counts.get(name, 0) + 1
    return counts
