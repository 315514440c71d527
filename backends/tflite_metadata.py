"""poseexport metadata inside a .tflite file, the way TFLite tooling stores metadata: an entry
of the model's `metadata` vector (name "poseexport") pointing at a buffer that holds the JSON.
Nothing is appended after the flatbuffer, so every TFLite reader still opens the file.

Reading needs only the `flatbuffers` package (which LiteRT depends on): a device install without
TensorFlow reads it. Writing runs in the converter process, with TensorFlow's flatbuffer tools.
"""
from __future__ import annotations

from pathlib import Path

from poseexport.metadata import METADATA_KEY

IDENTIFIER = b"TFL3"  # the TFLite schema's file identifier, bytes 4..8
# vtable offsets of the fields read here (schema.fbs: field n sits at 4 + 2 * n)
MODEL_BUFFERS, MODEL_METADATA = 4 + 2 * 4, 4 + 2 * 6
METADATA_NAME, METADATA_BUFFER = 4, 6
BUFFER_DATA = 4


def is_tflite(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] == IDENTIFIER


def read_entry(data: bytes, name: str = METADATA_KEY) -> bytes | None:
    """The bytes of the metadata entry `name`, or None when the model has none."""
    from flatbuffers import encode, packer, table
    from flatbuffers.number_types import Uint32Flags

    if not is_tflite(data[:8]):
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = table.Table(bytearray(data), encode.Get(packer.uoffset, data, 0))
    entries = model.Offset(MODEL_METADATA)
    buffers = model.Offset(MODEL_BUFFERS)
    if not entries or not buffers:
        return None
    for j in range(model.VectorLen(entries)):
        entry = table.Table(model.Bytes, model.Indirect(model.Vector(entries) + 4 * j))
        at = entry.Offset(METADATA_NAME)
        if not at or entry.String(at + entry.Pos).decode("utf-8", "replace") != name:
            continue
        at = entry.Offset(METADATA_BUFFER)
        index = entry.Get(Uint32Flags, at + entry.Pos) if at else 0
        if index >= model.VectorLen(buffers):
            raise ValueError(f"metadata '{name}' points at buffer {index}, past the last one")
        buffer = table.Table(model.Bytes, model.Indirect(model.Vector(buffers) + 4 * index))
        at = buffer.Offset(BUFFER_DATA)
        if not at:
            return b""
        start = buffer.Vector(at)
        return bytes(model.Bytes[start:start + buffer.VectorLen(at)])
    return None


def read_metadata_json(path: Path) -> str | None:
    entry = read_entry(Path(path).read_bytes())
    return None if entry is None else entry.decode("utf-8")


def with_entry(data: bytes, text: str, name: str = METADATA_KEY) -> bytes:
    """`data` (a .tflite) with the metadata entry `name` set to `text` (converter process only)."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    model.buffers.append(buffer)
    kept = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name) != name]
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = kept + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
