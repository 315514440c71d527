"""The poseexport metadata in an MNN model's business-code field (`Net.bizCode`, MNN's own slot for
an application's tag), read straight from the flatbuffer: no MNN import, so sniffing a file never
loads the runtime (whose import prints to stdout)."""
from __future__ import annotations

import struct
from pathlib import Path

BIZ_CODE_FIELD = 0  # bizCode is field 0 of table Net in MNN's schema (schema/default/MNN.fbs)


def read_biz_code(path: Path) -> str | None:
    """The bizCode string of an .mnn file; None when the file is not a flatbuffer with one.
    Raises ValueError on a file whose offsets point outside it (truncated or not MNN)."""
    data = Path(path).read_bytes()
    if len(data) < 16:
        raise ValueError(f"{len(data)} bytes is too short for an MNN model")
    root = _u32(data, 0)
    vtable = root - struct.unpack_from("<i", data, _check(data, root, 4))[0]
    vtable_size = struct.unpack_from("<H", data, _check(data, vtable, 4))[0]
    slot = 4 + 2 * BIZ_CODE_FIELD
    if slot + 2 > vtable_size:
        return None
    field = struct.unpack_from("<H", data, vtable + slot)[0]
    if field == 0:
        return None
    at = root + field
    start = at + _u32(data, at)
    length = _u32(data, start)
    return data[_check(data, start + 4, length):start + 4 + length].decode("utf-8")


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, _check(data, at, 4))[0]


def _check(data: bytes, at: int, size: int) -> int:
    if at < 0 or at + size > len(data):
        raise ValueError(f"offset {at} (+{size}) lies outside the {len(data)}-byte file")
    return at
