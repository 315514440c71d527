"""Checks every runner makes once when an artifact is opened: can the runtime open the model
file, and does the metadata describe the model's real output?

A truncated or renamed model file otherwise surfaces as the runtime's own traceback
(InvalidProtobuf, "failed finding central directory", "Incorrect weights in bin file"), and
metadata whose kpt_shape or names do not fit the output as an IndexError deep in decoding —
or as a val error that blames the dataset. Both are the artifact's fault and are named so.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from poseexport.errors import BadArtifactError, PoseExportError
from poseexport.metadata import Metadata

T = TypeVar("T")
_FIX = "copy the whole artifact folder again as poseexport convert wrote it, or re-export the model"


def open_model_file(title: str, files: Sequence[Path], opener: Callable[[], T]) -> T:
    """Run the runtime's loader on `files` (the main file first); a missing, truncated or
    corrupt file becomes a BadArtifactError naming it, with the runtime's own message."""
    for path in files:
        if not Path(path).exists():
            raise BadArtifactError(f"The {title} model file {path} is missing",
                                   "the artifact names it, but no file has that name (renamed, moved "
                                   "or deleted?)", _FIX, context=_listing(Path(path).parent))
    try:
        return opener()
    except PoseExportError:
        raise
    except Exception as err:  # runtimes raise anything (protobuf, RuntimeError, ValueError) on a bad file
        raise BadArtifactError(f"The {title} model file {files[0]} cannot be opened",
                               f"it is truncated, corrupt or not a valid {title} model "
                               f"({type(err).__name__}: {_gist(err)})", _FIX) from err


def _gist(err: Exception, limit: int = 200) -> str:
    """The informative line of a runtime's message (OpenVINO puts source locations first)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from", "Check '"))]
    text = (useful or lines or [type(err).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "…"


def check_metadata(meta: Metadata, where: Path) -> None:
    """The metadata agrees with itself: names, kpt_shape, channels and the output shape."""
    facts = meta.model
    k, d = _kpt_shape(facts.kpt_shape, where)
    nc = len(facts.names)
    if nc < 1 or sorted(facts.names) != list(range(nc)):
        _bad(where, "names", f"class indices are {sorted(facts.names)}, not 0..nc-1")
    if not meta.outputs:
        _bad(where, "outputs", "it lists no output")
    if meta.outputs[0].kind == "head":
        _check_head_outputs(meta, nc, k * d, where)
    else:
        _check_decoded_output(meta.outputs[0], nc, k, d, where)
    for field, values in (("keypoint_names", facts.keypoint_names), ("flip_idx", facts.flip_idx)):
        if values and len(values) != k:
            _bad(where, field, f"it has {len(values)} entries for kpt_shape {[k, d]} ({k} keypoints)")
    if any(not 0 <= int(j) < k for pair in facts.skeleton for j in pair):
        _bad(where, "skeleton", f"it joins keypoints outside 0..{k - 1}")
    shape = meta.inputs[0].shape if meta.inputs else ()
    if len(shape) != 4:
        _bad(where, "inputs[0].shape", f"it is {list(shape)}, not 4 dimensions")


def _check_decoded_output(out, nc: int, k: int, d: int, where: Path) -> None:
    want = 4 + nc + k * d if out.kind == "raw" else 6 + k * d
    axis = 1 if out.kind == "raw" else 2
    if out.kind not in ("raw", "nms"):
        _bad(where, "outputs[0].kind", f"it is {out.kind!r}, not 'raw', 'nms' or 'head'")
    if len(out.shape) != 3:
        _bad(where, "outputs[0].shape", f"it is {list(out.shape)}, not 3 dimensions")
    if isinstance(out.shape[axis], int) and out.shape[axis] != want:
        _bad(where, "kpt_shape / names",
             f"{nc} class(es) and kpt_shape {[k, d]} make {want} values per "
             f"{'anchor' if out.kind == 'raw' else 'person'}, but outputs[0].shape is {list(out.shape)}")
    if out.kind == "raw" and out.channels and len(out.channels) != want:
        _bad(where, "kpt_shape / names",
             f"{nc} class(es) and kpt_shape {[k, d]} make {want} output channels, but "
             f"outputs[0].channels lists {len(out.channels)}")


def _check_head_outputs(meta: Metadata, nc: int, nk: int, where: Path) -> None:
    """Host-decode maps: box, class and keypoint maps per level (visibility its own map when D is
    3, or within the keypoint offsets in artifacts made before that split), each 4-D, with the
    channels their meaning needs."""
    from poseexport.decode.head_outputs import MEANINGS, REQUIRED

    k = meta.model.kpt_shape[0]
    split = any(o.meaning == "keypoint_visibility" for o in meta.outputs) or nk == 2 * k

    levels: dict[int, set[str]] = {}
    for i, out in enumerate(meta.outputs):
        if out.kind != "head" or out.meaning not in MEANINGS:
            _bad(where, f"outputs[{i}]", f"a host-decode artifact's outputs are head maps ({', '.join(MEANINGS)}), "
                                         f"this one is kind {out.kind!r} meaning {out.meaning!r}")
        if len(out.shape) != 4 or out.layout not in ("NCHW", "NHWC") or out.stride <= 0:
            _bad(where, f"outputs[{i}]", f"shape {list(out.shape)}, layout {out.layout!r}, stride {out.stride} "
                                         "do not describe a 4-D level map")
        channels = out.shape[1] if out.layout == "NCHW" else out.shape[3]
        want = {"class_logits": nc, "keypoint_offsets": 2 * k if split else nk,
                "keypoint_visibility": k}.get(out.meaning)
        wrong = channels != want if want is not None else channels % 4 != 0  # box: 4 sides x bins
        if isinstance(channels, int) and wrong:
            _bad(where, "kpt_shape / names", f"outputs[{i}] ({out.meaning}) has {channels} channels; "
                                             f"{nc} class(es) and {nk} keypoint values need {want or 'a multiple of 4'}")
        levels.setdefault(out.stride, set()).add(out.meaning)
    needed = set(REQUIRED) | ({"keypoint_visibility"} if split and nk == 3 * k else set())
    for stride, meanings in levels.items():
        if meanings != needed:
            _bad(where, "outputs", f"stride {stride} has {sorted(meanings)}, not {sorted(needed)}")


def check_output_shapes(meta: Metadata, shapes: Sequence[Sequence], where: Path) -> None:
    """The runtime's outputs (their shapes: ints, or names/None/-1 for dynamic dims) fit the metadata."""
    if len(shapes) != len(meta.outputs):
        raise BadArtifactError(f"The metadata of the artifact {where} does not describe its model",
                               f"the model has {len(shapes)} output(s), the metadata lists {len(meta.outputs)}",
                               "the metadata was edited or belongs to another model: " + _FIX)
    for i, shape in enumerate(shapes):
        check_output_shape(meta, shape, where, i)


def check_output_shape(meta: Metadata, shape: Sequence, where: Path, index: int = 0) -> None:
    """One runtime output's real shape fits the metadata's outputs[index]."""
    declared = meta.outputs[index].shape
    real = [d if isinstance(d, int) and d >= 0 else None for d in shape]
    if len(real) != len(declared):
        _bad(where, f"outputs[{index}].shape", f"the metadata says {list(declared)}, the model's output has "
                                               f"{len(real)} dimensions {list(shape)}")
    for axis, (ours, theirs) in enumerate(zip(declared, real)):
        if isinstance(ours, int) and theirs is not None and ours != theirs:
            k, d = meta.model.kpt_shape
            raise BadArtifactError(
                f"The metadata of the artifact {where} does not describe its model",
                f"the model's output {index} is {list(shape)}, the metadata says {list(declared)} (axis {axis}; "
                f"{len(meta.model.names)} class(es), kpt_shape {[k, d]})",
                "the metadata was edited or belongs to another model: " + _FIX)


def _kpt_shape(value, where: Path) -> tuple[int, int]:
    ok = len(value) == 2 and all(isinstance(v, int) for v in value) and value[0] >= 1 and value[1] in (2, 3)
    if not ok:
        _bad(where, "kpt_shape", f"it is {list(value)}, not [K, 2] or [K, 3]")
    return int(value[0]), int(value[1])


def _bad(where: Path, field: str, why: str) -> None:
    raise BadArtifactError(f"The metadata of the artifact {where} is inconsistent: '{field}' disagrees",
                           why, "the metadata was edited or damaged: " + _FIX)


def _listing(folder: Path, limit: int = 8) -> list[str]:
    if not folder.is_dir():
        return []
    names = sorted(p.name for p in folder.iterdir())
    more = f" … and {len(names) - limit} more" if len(names) > limit else ""
    return [f"{folder} holds: {', '.join(names[:limit]) or 'nothing'}{more}"]
