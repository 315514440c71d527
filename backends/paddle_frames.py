"""The frames the Paddle runner and its child process exchange over a pipe (both sides).

A frame is a 4-byte little-endian length, that many bytes of JSON header, then the raw bytes of
each array the header lists (`arrays`: dtype and shape of each, in order). Arrays cross as their
C-ordered bytes: no pickle, nothing evaluated. Standard library and numpy only: the child
imports this before Paddle and must not pull in anything else.
"""
from __future__ import annotations

import json
import struct
from typing import BinaryIO

import numpy as np

HEADER = struct.Struct("<I")
DTYPES = ("float32", "float16", "float64", "int32", "int64", "uint8", "int8", "bool")


def write_frame(stream: BinaryIO, header: dict, arrays: list[np.ndarray] = ()) -> None:
    """Send `header` (JSON-serialisable) and `arrays` as one frame."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    header = {**header, "arrays": [{"dtype": a.dtype.name, "shape": list(a.shape)} for a in arrays]}
    body = json.dumps(header).encode()
    stream.write(HEADER.pack(len(body)) + body)
    for a in arrays:
        stream.write(memoryview(a).cast("B"))
    stream.flush()


def read_frame(stream: BinaryIO) -> tuple[dict, list[np.ndarray]] | None:
    """The next frame, or None when the stream ended (also mid-frame: the other side is gone)."""
    head = _read_exactly(stream, HEADER.size)
    if head is None:
        return None
    body = _read_exactly(stream, HEADER.unpack(head)[0])
    if body is None:
        return None
    header = json.loads(body)
    arrays = []
    for spec in header.get("arrays", []):
        if spec["dtype"] not in DTYPES:
            raise ValueError(f"a frame announced an array of dtype {spec['dtype']!r}")
        dtype, shape = np.dtype(spec["dtype"]), tuple(int(d) for d in spec["shape"])
        data = _read_exactly(stream, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        if data is None:
            return None
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape))
    return header, arrays


def _read_exactly(stream: BinaryIO, n: int) -> bytearray | None:
    """n bytes into a fresh buffer (writable: the arrays made on it are the caller's to change)."""
    buffer = bytearray(n)
    view, got = memoryview(buffer), 0
    while got < n:
        read = stream.readinto(view[got:])
        if not read:
            return None
        got += read
    return buffer
