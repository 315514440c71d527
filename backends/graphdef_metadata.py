"""The metadata Const node of a frozen GraphDef, read from the protobuf wire format directly,
so that recognising a .pb needs neither TensorFlow nor its generated protobuf classes.

GraphDef.node = 1 (NodeDef); NodeDef.name = 1, NodeDef.op = 2, NodeDef.attr = 5 (map entries:
key = 1, value = 2 AttrValue); AttrValue.tensor = 8 (TensorProto); TensorProto.string_val = 8.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .tf_convert import METADATA_NODE

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            value, at = _varint(data, at)
        elif wire == WIRE_LEN:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated field")
            value, at = data[at:at + size], at + size
        elif wire in (WIRE_I64, WIRE_I32):
            width = 8 if wire == WIRE_I64 else 4
            value, at = data[at:at + width], at + width
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if number == 0:
            raise ValueError("field number 0")
        yield number, wire, value


def _first(data: bytes, number: int) -> bytes | None:
    return next((v for n, w, v in fields(data) if n == number and w == WIRE_LEN), None)


def read_metadata_json(path: Path) -> str | None:
    """The JSON in the GraphDef's poseexport_metadata node, or None when it has none."""
    data = Path(path).read_bytes()
    for number, wire, node in fields(data):
        if number != 1 or wire != WIRE_LEN:
            continue
        name = _first(node, 1)
        if name is None or name.decode("utf-8", "replace") != METADATA_NODE:
            continue
        for n, w, entry in fields(node):
            if n == 5 and w == WIRE_LEN and _first(entry, 1) == b"value":
                tensor = _first(_first(entry, 2) or b"", 8)
                text = _first(tensor or b"", 8)
                return None if text is None else text.decode("utf-8")
    return None
