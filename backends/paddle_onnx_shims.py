"""What x2paddle 1.6's ONNX route needs from onnx 1.23, applied in the converter process only.

Measured with onnx 1.23.2 and x2paddle 1.6.0:
- x2paddle reads `onnx.version.version`; onnx no longer imports its `version` submodule, so the
  attribute is missing and x2paddle says "onnx is not installed" and returns with no output.
- x2paddle imports `onnx.mapping.TENSOR_TYPE_TO_NP_TYPE`; the module is gone (onnx.helper has
  `tensor_dtype_to_np_dtype`).
- x2paddle's MaxPool refuses any `dilations` attribute; torch's exporter writes dilations of 1,
  which is the ONNX default, so the attribute is dropped. Other dilations are refused by name.
"""
from __future__ import annotations

import sys
import types
import warnings


def install_onnx_shims() -> None:
    """Make `onnx.version` and `onnx.mapping` what x2paddle expects (idempotent)."""
    import numpy as np
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "onnx.version is deprecated"
        import onnx.version  # noqa: F401 - binds onnx.version
    try:
        import onnx.mapping  # noqa: F401 - an onnx that still has it
        return
    except ImportError:
        pass
    table = {}
    for code in onnx.TensorProto.DataType.values():
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(code))
        except (KeyError, TypeError, ValueError):
            continue
        if dtype.type.__module__ == "numpy":  # numpy's own types; float8 and friends are ml_dtypes
            table[code] = dtype
    mapping = types.ModuleType("onnx.mapping")
    mapping.TENSOR_TYPE_TO_NP_TYPE = table
    mapping.NP_TYPE_TO_TENSOR_TYPE = {v: k for k, v in table.items()}
    sys.modules["onnx.mapping"] = mapping
    onnx.mapping = mapping


def drop_unit_maxpool_dilations(model) -> int:
    """Remove MaxPool `dilations` of all ones from an onnx ModelProto in place; return how many."""
    dropped = 0
    for node in model.graph.node:
        if node.op_type != "MaxPool":
            continue
        for attr in list(node.attribute):
            if attr.name != "dilations":
                continue
            if any(int(d) != 1 for d in attr.ints):
                raise ValueError(f"MaxPool {node.name or '(unnamed)'} has dilations {list(attr.ints)}: "
                                 "x2paddle 1.6 converts MaxPool only without dilation")
            node.attribute.remove(attr)
            dropped += 1
    return dropped
