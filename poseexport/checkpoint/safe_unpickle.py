"""A restricted unpickler for PyTorch zip checkpoints (torch.save format).

Ultralytics checkpoints are pickles of its own classes. Unpickling them normally
imports and runs that code; here every global the pickle names is looked up in an
allow-list instead:

* tensor rebuilding (our own functions, mapped from torch._utils names),
* plain containers (OrderedDict, set, ...),
* known module classes (torch.nn.* and the YOLO building blocks), which become
  inert `Recorded` objects that only store their pickled state,
* `getattr` on a Recorded class (a YOLO head stores a bound method name).

Anything else (os.system, builtins.eval, subprocess, ...) raises
UnsafeCheckpointError before it can be called: nothing from the file is executed.
"""
from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import torch

from ..errors import BadCheckpointError, UnsafeCheckpointError

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}

# Classes that may appear in a pose checkpoint, by module prefix and class name.
# They are never imported: each becomes an inert Recorded object.
_TORCH_MODULES = {
    "Conv2d", "BatchNorm2d", "SiLU", "Identity", "Sequential", "ModuleList", "MaxPool2d",
    "Upsample", "ReLU", "LeakyReLU", "Sigmoid", "Hardswish", "Softmax",
}
_YOLO_MODULES = {
    "Conv", "DWConv", "Concat", "Bottleneck", "C2f", "C3", "C3k", "C3k2", "SPPF", "C2PSA",
    "PSABlock", "Attention", "DFL", "Detect", "Pose", "PoseModel", "DetectionModel",
}
_YOLO_PLAIN = {"IterableSimpleNamespace"}  # training args (a namespace of plain values)


def _is_recorded(module: str, name: str) -> bool:
    if module.startswith("torch.nn.modules"):
        return name in _TORCH_MODULES
    if module.startswith(("ultralytics.nn.modules", "ultralytics.nn.tasks")):
        return name in _YOLO_MODULES
    if module.startswith("ultralytics.utils"):
        return name in _YOLO_PLAIN
    return module == "types" and name == "SimpleNamespace"


class Recorded:
    """An inert stand-in for a pickled object: remembers its class name and state only."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__["_init_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<Recorded {self.qualname}>"


_recorded_classes: dict[str, type] = {}


def recorded_class(qualname: str) -> type:
    """One Recorded subclass per original class name (so the tree keeps its types)."""
    cls = _recorded_classes.get(qualname)
    if cls is None:
        cls = type(qualname.rsplit(".", 1)[-1], (Recorded,), {"qualname": qualname})
        _recorded_classes[qualname] = cls
    return cls


class _StorageRef:
    """Raw bytes of one storage and the dtype the pickle gives them."""

    def __init__(self, untyped: torch.UntypedStorage, dtype: torch.dtype):
        self.untyped, self.dtype = untyped, dtype


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                    backward_hooks=None, metadata=None):
    if not isinstance(storage, _StorageRef):
        raise BadCheckpointError("The checkpoint rebuilds a tensor from something other than "
                                 "a stored array", f"got {type(storage).__name__}",
                                 "re-save it with torch.save")
    t = torch.empty(0, dtype=storage.dtype)
    t.set_(storage.untyped, storage_offset, torch.Size(size), tuple(stride))
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks, *args):
    return data  # parameters are plain tensors here; our modules own the Parameters


def _safe_getattr(obj, name):
    if isinstance(obj, type) and issubclass(obj, Recorded) and isinstance(name, str):
        return f"{obj.qualname}.{name}"
    raise UnsafeCheckpointError(
        "Refused to load the checkpoint: it calls getattr on something other than a model class",
        f"getattr({obj!r}, {name!r}) is outside the allow-list",
        "load only checkpoints you trust, or re-save the weights with poseexport")


_ALLOWED_CALLABLES = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("__builtin__", "set"): set,
    ("builtins", "frozenset"): frozenset, ("__builtin__", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "getattr"): _safe_getattr, ("__builtin__", "getattr"): _safe_getattr,
    ("torch", "Size"): torch.Size,
    ("torch", "float32"): torch.float32, ("torch", "float16"): torch.float16,
}


class _StorageType:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals only from the allow-list; storages come from the zip archive."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self._archive, self._prefix = archive, prefix
        self._storages: dict[str, torch.UntypedStorage] = {}
        self.seen_classes: set[str] = set()

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        target = _ALLOWED_CALLABLES.get((module, name))
        if target is not None:
            return target
        qualname = f"{module}.{name}"
        if _is_recorded(module, name):
            self.seen_classes.add(qualname)
            return recorded_class(qualname)
        raise UnsafeCheckpointError(
            f"Refused to load the checkpoint: it references '{qualname}'",
            "that global is not on poseexport's allow-list of tensors, containers and model "
            "classes, so loading it could execute code; nothing from the file was run",
            "load only checkpoints you trust; if this is your own model, re-save its weights "
            "(state dict) or report the class name in an issue")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise BadCheckpointError("The checkpoint has an unknown persistent record",
                                     f"got {pid!r}", "re-save it with torch.save")
        _, storage_type, key, _location, numel = pid
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else storage_type
        if not isinstance(dtype, torch.dtype):
            raise BadCheckpointError("The checkpoint has a storage of unknown type",
                                     f"got {storage_type!r}", "re-save it with torch.save")
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}data/{key}")
            untyped = torch.UntypedStorage.from_buffer(raw, dtype=torch.uint8) if raw else \
                torch.UntypedStorage(0)
            self._storages[key] = untyped
        return _StorageRef(self._storages[key], dtype)


def restricted_load(path: str | Path):
    """Load a torch zip checkpoint with the restricted unpickler. Returns the unpickled object."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadCheckpointError(
            f"Cannot read checkpoint {path}",
            f"it is not a PyTorch zip checkpoint ({err})",
            "check that the download completed; legacy (pre-1.6) torch files are not supported")
    with archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise BadCheckpointError(f"Cannot read checkpoint {path}",
                                     "the zip holds no single data.pkl record",
                                     "pass a file written by torch.save")
        prefix = pkl[0][: -len("data.pkl")]
        order = archive.read(f"{prefix}byteorder").decode() if f"{prefix}byteorder" in \
            archive.namelist() else "little"
        if order != "little":
            raise BadCheckpointError(f"Cannot read checkpoint {path}",
                                     f"its byte order is {order}", "re-save it on a little-endian host")
        unpickler = RestrictedUnpickler(io.BytesIO(archive.read(pkl[0])), archive, prefix)
        try:
            return unpickler.load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
                AttributeError) as err:
            raise BadCheckpointError(f"Cannot read checkpoint {path}",
                                     f"its pickle is damaged or of an unknown kind ({err})",
                                     "re-download or re-save it") from err
