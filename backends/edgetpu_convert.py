"""Runs in the converter process: edgetpu_compiler on the int8 TFLite, then the metadata (with
the compiler's version and op counts) embedded into the compiled file."""
from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from poseexport.contract.converter_process import read_metadata

from .edgetpu import parse_compiler_report
from .tflite_metadata import with_entry


def compile_for_tpu(request: dict) -> dict:
    compiler = request["options"]["compiler"]
    out_dir = Path(request["out_dir"])
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    done = subprocess.run([compiler, "-s", "-o", str(out_dir), request["source"]], capture_output=True,
                          text=True, timeout=1800)
    print(done.stdout)  # the compiler's own report stays in the converter's log
    if done.returncode != 0:
        raise RuntimeError(f"{compiler} exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    report = parse_compiler_report(version.stdout + "\n" + done.stdout)
    compiled = out_dir / (Path(request["source"]).stem + "_edgetpu.tflite")
    if not compiled.is_file():
        raise RuntimeError(f"{compiler} reported success but wrote no {compiled.name}")
    for stray in out_dir.glob("*.log"):  # the compiler's log: its summary goes into the metadata
        stray.unlink()
    metadata = read_metadata(request)
    notes = (f"edgetpu_compiler {report['version']}: {report['ops_on_tpu']} ops on the Edge TPU, "
             f"{report['ops_on_cpu']} on the CPU")
    metadata = replace(metadata, precision=replace(metadata.precision, notes=notes),
                       toolchain={**metadata.toolchain, "edgetpu_compiler": report["version"] or "unknown"})
    target = out_dir / f"{request['stem']}_edgetpu.tflite"
    target.write_bytes(with_entry(compiled.read_bytes(), metadata.to_json()))
    if compiled != target:
        compiled.unlink()
    return {"model": str(target), "metadata": metadata.to_json(), "report": report}
