"""Runs in the converter process: pnnx turns the fp32 ONNX into an NCNN .param + .bin.

pnnx writes its by-products (a simplified ONNX next to its input, the pnnx graph, two Python
scripts) wherever it is told or beside the input: the ONNX is copied into this process's run
folder first, so nothing lands in the upstream artifact, and only the two NCNN files are written
into the artifact folder.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .ncnn import BIN_SUFFIX, PARAM_SUFFIX

PNNX_TIMEOUT_S = 900


def convert(request: dict) -> dict:
    run_dir = Path.cwd()  # the converter's own run folder (converter_process)
    onnx = run_dir / "model.onnx"
    shutil.copyfile(request["source"], onnx)
    out_dir = Path(request["out_dir"])
    param = out_dir / f"{request['stem']}{PARAM_SUFFIX}"
    weights = out_dir / f"{request['stem']}{BIN_SUFFIX}"
    shape = ",".join(str(d) for d in request["options"]["shape"])
    command = [pnnx_program(), str(onnx), f"inputshape=[{shape}]f32",
               f"fp16={1 if request['options']['fp16'] else 0}",
               f"ncnnparam={param}", f"ncnnbin={weights}", f"ncnnpy={run_dir / 'model_ncnn.py'}",
               f"pnnxparam={run_dir / 'model.pnnx.param'}", f"pnnxbin={run_dir / 'model.pnnx.bin'}",
               f"pnnxpy={run_dir / 'model_pnnx.py'}", f"pnnxonnx={run_dir / 'model.pnnx.onnx'}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PNNX_TIMEOUT_S, cwd=run_dir)
    print(done.stdout[-4000:])  # pnnx's pass log stays in the converter's log
    if done.returncode != 0:
        raise RuntimeError(f"pnnx exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    for made in (param, weights):
        if not made.is_file() or made.stat().st_size == 0:
            raise RuntimeError(f"pnnx reported success but wrote no {made.name}")
    return {"param": str(param), "bin": str(weights), "pnnx": pnnx_version()}


def pnnx_program() -> str:
    """The pnnx binary the pnnx wheel ships inside its package (found without importing it: its
    __init__ imports torch), else one on PATH."""
    import importlib.util

    spec = importlib.util.find_spec("pnnx")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        shipped = Path(folder) / "pnnx"
        if shipped.is_file():
            return str(shipped)
    found = shutil.which("pnnx")
    if found is None:
        raise RuntimeError("no pnnx program: pip install 'poseexport[ncnn]'")
    return found


def pnnx_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("pnnx")
    except md.PackageNotFoundError:
        return "unknown"
