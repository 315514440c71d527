"""One benchmark cell, run in its own process: `python -m poseexport.benchmark.cell SPEC RESULT`.

Stages: export (timed, validated against PyTorch by the export itself) -> cold load (timed)
-> golden vector -> latency (1 thread and all cores; batch 1 and the exported batch) -> val
mAP. After every stage the partial result is written to RESULT, so a crash or a kill keeps
what was measured before it (the parent adds the status). The `pytorch` cell is the
reference row: the same val and latency, through PyTorch itself.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from . import spec as S
from .isolate import names_failed_allocation
from .measure import folder_size_mb, peak_rss_mb, thread_settings, time_infer


class CellRecorder:
    """The result dict, written atomically to disk whenever it changes."""

    def __init__(self, path: Path, cell: S.CellSpec):
        self.path = path
        self.data: dict = {**cell.row(None, "start"), "pid": os.getpid()}
        self.save()

    def stage(self, name: str) -> None:
        self.data["stage"] = name
        log(f"[{self.data['cell']}] {name}")
        self.save()

    def update(self, **values) -> None:
        self.data.update(values)
        self.save()

    def finish(self, status: str, error: str | None = None) -> None:
        if self.data["status"] in (None, S.OK) or status in S.ERROR_STATUSES:
            self.data["status"] = status
        if error:
            self.data["error"] = "\n".join(filter(None, [self.data.get("error"), error]))
        self.data["peak_rss_mb"] = peak_rss_mb()
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(tmp, self.path)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_cell(cell: S.CellSpec, rec: CellRecorder) -> None:
    """Measure one cell; the status is set on `rec` (ok, or why not)."""
    from ..errors import (
        MissingDependencyError,
        PoseExportError,
        UnsupportedOptionError,
        ValidationFailedError,
    )
    rec.stage("model")
    model = build_model(cell.options.model)
    if cell.format == S.REFERENCE_FORMAT:
        return run_reference(cell, model, rec)
    rec.stage("export")
    folder = cell.artifact_dir()
    start = time.perf_counter()
    try:
        artifact = model.export(cell.format, log=log, imgsz=cell.options.imgsz, batch=cell.options.batch,
                                half=cell.precision == "fp16", int8=cell.precision == "int8",
                                data=cell.options.calib if cell.precision == "int8" else None, out=folder)
        rec.update(export_s=artifact.export_seconds, validate_s=time.perf_counter() - start - artifact.export_seconds,
                   parity=artifact.metadata.validation)
    except ValidationFailedError as err:  # the artifact is kept, marked failed: measure it anyway
        rec.update(export_s=time.perf_counter() - start, parity=_stored_metadata(folder).get("validation"))
        rec.finish(S.PARITY_FAILED, str(err))
    except (UnsupportedOptionError, MissingDependencyError) as err:
        return rec.finish(S.UNSUPPORTED, str(err))
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 (a converter failed, or a bug: either way this cell's row)
        rec.update(export_s=time.perf_counter() - start)
        text = str(err) if isinstance(err, PoseExportError) else traceback.format_exc(limit=8)
        return rec.finish(S.EXPORT_FAILED, text)
    rec.update(artifact=str(folder), size_mb=folder_size_mb(folder),
               toolchain=_stored_metadata(folder).get("toolchain", {}))
    del model
    measure_artifact(cell, folder, rec)


def build_model(name: str):
    """The PoseModel; a config (untrained) is built from seed 0, so that every cell's process
    (and the PyTorch row) holds the same weights."""
    import torch

    from ..model import PoseModel, is_architecture_name

    if is_architecture_name(name):
        torch.manual_seed(0)
    return PoseModel(name)


def measure_artifact(cell: S.CellSpec, folder: Path, rec: CellRecorder) -> None:
    import poseexport

    from ..selftest import check_golden, read_golden

    rec.stage("load")
    threads = thread_settings(cell.options.latency)
    try:
        start = time.perf_counter()
        runner = poseexport.load(folder, threads=max(threads))
        load_s = time.perf_counter() - start
        golden = read_golden(folder)
        image = golden.input[:1]  # the first shipped reference photo: every cell (and the PyTorch row) is timed on it
        batch = image.repeat(runner.batch or 1, axis=0)
        start = time.perf_counter()
        runner.forward(batch)
        rec.update(load_s=load_s, first_infer_ms=(time.perf_counter() - start) * 1000)
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 (whatever the runtime raises is this cell's status)
        return rec.finish(S.LOAD_FAILED, f"{type(err).__name__}: {err}")
    rec.stage("golden")
    report = check_golden(runner, golden)
    rec.update(golden={"passed": report.passed, "checks": report.to_dict()["checks"]})
    if not report.passed:
        failed = "; ".join(f"{c.name} {c.value:.4g}{c.unit} > limit {c.limit:g}" for c in report.checks if not c.passed)
        rec.finish(S.PARITY_FAILED, f"the golden vector check failed: {failed}\n{report.table()}")
    runner.close()
    rec.stage("latency")
    rec.update(latency=measure_latency(lambda t: poseexport.load(folder, threads=t), image, runner.batch, cell, rec))
    rec.stage("val")
    run_val(cell, lambda: _artifact_model(folder), rec)
    rec.finish(S.OK)


def run_reference(cell: S.CellSpec, model, rec: CellRecorder) -> None:
    """The PyTorch row: fused float32 model, the same val and latency as every cell."""
    import numpy as np
    import torch

    model.fuse()
    source = Path(model.source) if model.source else None
    rec.update(size_mb=folder_size_mb(source) if source and source.is_file() else None,
               toolchain={"torch": torch.__version__}, parity=None)
    rec.stage("latency")
    image = timing_image(cell.options.imgsz, model.stride)

    class TorchRunner:  # the Runner surface time_infer needs, with torch's own thread count
        def __init__(self, threads: int):
            torch.set_num_threads(threads)
            self.batch = None

        def forward(self, x: np.ndarray):
            return model.forward_numpy(x)

        def close(self) -> None:
            pass

    rec.update(latency=measure_latency(TorchRunner, image, None, cell, rec))
    rec.stage("val")
    torch.set_num_threads(max(thread_settings(cell.options.latency)))
    run_val(cell, lambda: model, rec)
    rec.finish(S.OK)


def measure_latency(open_runner, image, fixed_batch: int | None, cell: S.CellSpec, rec: CellRecorder) -> list:
    """Per thread setting: batch 1 and the exported batch (what the input shape allows)."""
    asked = cell.options.batch
    batches = [fixed_batch] if fixed_batch and fixed_batch > 1 else sorted({1, asked})
    rows = []
    for threads in thread_settings(cell.options.latency):
        runner = open_runner(threads)
        try:
            for batch in batches:
                # forward: the runtime call plus input encoding and host decode, as predict pays them
                row = time_infer(runner.forward, image.repeat(batch, axis=0), cell.options.latency)
                rows.append({"threads": threads, **row})
                log(f"[{cell.name}] latency batch {batch}, {threads} thread(s): p50 {row['p50_ms']:.1f} ms "
                    f"({row['runs']} runs)")
                rec.update(latency=rows)
        finally:
            runner.close()
    return rows


def timing_image(imgsz: tuple[int, int], stride: int):
    """The first shipped reference photo letterboxed (the first golden image, which artifacts are
    timed on), for the PyTorch row."""
    from ..predict.letterbox import preprocess
    from ..predict.sources import read_image
    from ..validate.reference_images import packaged_image_files

    return preprocess([read_image(packaged_image_files()[0])], imgsz, stride=stride)[0]


def run_val(cell: S.CellSpec, open_model, rec: CellRecorder) -> None:
    """pose / box mAP on the dataset at the cell's input size (no dataset: no val, said so)."""
    if not cell.options.data:
        rec.update(val=None)
        return
    from ..val import validate_model

    start = time.perf_counter()
    try:
        metrics = validate_model(open_model(), cell.options.data, imgsz=cell.options.imgsz,
                                 batch=cell.options.val_batch, progress=False).to_dict()
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 (recorded with the row; the other stages stand)
        return rec.finish(S.ACCURACY_FAILED, f"val failed: {type(err).__name__}: {err}")
    val = {"pose_map50-95": metrics["pose"]["map50-95"], "pose_map50": metrics["pose"]["map50"],
           "box_map50-95": metrics["box"]["map50-95"], "box_map50": metrics["box"]["map50"],
           "images": metrics["images"], "seconds": time.perf_counter() - start}
    if "coco" in metrics:
        val["coco_pose_ap"] = metrics["coco"]["pose_ap"]
    rec.update(val=val)


def _artifact_model(folder: Path):
    from ..artifact_model import ArtifactModel

    return ArtifactModel(folder)


def _stored_metadata(folder: Path) -> dict:
    """The artifact's metadata.json as the export left it (also after a failed validation)."""
    from ..metadata import METADATA_FILE

    path = folder / METADATA_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def limit_memory(gigabytes: float) -> None:
    """Cap this process's address space: allocations beyond it fail (MemoryError, or a runtime's
    std::bad_alloc that kills the process) instead of taking the machine down."""
    import resource

    limit = int(gigabytes * 1024 ** 3)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m poseexport.benchmark.cell SPEC.json RESULT.json", file=sys.stderr)
        return 2
    cell = S.CellSpec.from_json(Path(argv[0]).read_text())
    if cell.options.memory_limit_gb:
        limit_memory(cell.options.memory_limit_gb)
    rec = CellRecorder(Path(argv[1]), cell)
    try:
        run_cell(cell, rec)
    except MemoryError:
        rec.finish(S.OUT_OF_MEMORY, f"MemoryError during {rec.data['stage']}")
        return 3
    except Exception as err:  # noqa: BLE001 (a bug in a stage we did not expect to fail: keep the traceback in the row)
        if cell.options.memory_limit_gb and names_failed_allocation(f"{type(err).__name__}: {err}"):
            rec.finish(S.OUT_OF_MEMORY, f"allocation failed under --memory-limit {cell.options.memory_limit_gb:g} GB "
                                        f"during {rec.data['stage']} ({type(err).__name__}: {err})")
            return 3
        failed = {"load": S.LOAD_FAILED, "export": S.EXPORT_FAILED}.get(rec.data["stage"], S.CRASHED)
        rec.finish(failed, traceback.format_exc(limit=10))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
