"""What one benchmark run measures: the options (every default lives here) and the statuses."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# one status per cell; ordered from best to worst for sorting and for the summary line
OK = "ok"
UNSUPPORTED = "unsupported"
EXPORT_FAILED = "export failed"
LOAD_FAILED = "load failed"
PARITY_FAILED = "parity failed"
ACCURACY_FAILED = "accuracy failed"
TIMED_OUT = "timed out"
CRASHED = "crashed"
OUT_OF_MEMORY = "out of memory"
STATUSES = (OK, UNSUPPORTED, EXPORT_FAILED, LOAD_FAILED, PARITY_FAILED, ACCURACY_FAILED, TIMED_OUT,
            CRASHED, OUT_OF_MEMORY)
ERROR_STATUSES = (EXPORT_FAILED, LOAD_FAILED, TIMED_OUT, CRASHED, OUT_OF_MEMORY)

REFERENCE_FORMAT = "pytorch"  # the PyTorch row every cell's mAP is compared with
PRECISIONS = ("fp32", "fp16", "int8")
# formats the CI matrix already names but that poseexport does not implement yet: their
# cells report `unsupported` (any other unknown name is a user error: most are typos)
PLANNED_FORMATS = ("coreml", "tensorrt", "rknn")

# largest drop of pose mAP50-95 (vs the PyTorch row of the same run) a cell may show before
# it is `accuracy failed`. fp32/fp16 should match to noise; int8 loses a little. Measured on
# yolo11n-pose at 640, coco-val-pose (36 images): fp32 0.0000 (all formats), fp16 0.0000-0.0016,
# int8 0.0042 (OpenVINO/NNCF) and 0.0054 (ONNX Runtime QDQ).
MAX_MAP_DROP = {"fp32": 0.005, "fp16": 0.01, "bf16": 0.02, "int8": 0.05}

FAIL_ON_CHOICES = ("error", "parity", "accuracy", "regression")


@dataclass(frozen=True)
class LatencyPlan:
    """How latency is taken: `warmup` runs, then `iterations` timed runs, each stage capped by a
    time budget so a very slow cell (TorchScript fp16 on CPU: seconds per image) still ends.
    A capped stage keeps at least `min_runs` runs; the counts actually made are reported."""

    warmup: int = 10
    iterations: int = 100
    budget_s: float = 10.0  # per (batch, threads) setting, timed runs only; warm-up gets a quarter
    min_runs: int = 5
    threads: tuple[int, ...] = ()  # () = 1 and all cores


@dataclass(frozen=True)
class BenchmarkOptions:
    model: str = "yolo11n-pose.pt"
    formats: tuple[str, ...] = ("torchscript", "onnx", "openvino")
    precisions: tuple[str, ...] = PRECISIONS
    imgsz: tuple[int, int] = (640, 640)
    batch: int = 1
    data: str | None = None  # val dataset yaml; None = no mAP
    calib: str | None = None  # int8 calibration images; None = int8 cells are unsupported
    out: str = "benchmark-results"
    timeout_s: float = 1800.0  # TorchScript fp16 at 640 on a loaded 2-core CPU took 11 minutes
    memory_limit_gb: float | None = None  # address-space cap per cell (RLIMIT_AS); None: none
    latency: LatencyPlan = field(default_factory=LatencyPlan)
    val_batch: int = 1

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @staticmethod
    def from_dict(raw: dict) -> BenchmarkOptions:
        raw = dict(raw)
        raw["latency"] = LatencyPlan(**{**raw.get("latency", {}),
                                        "threads": tuple(raw.get("latency", {}).get("threads", ()))})
        for key in ("formats", "precisions", "imgsz"):
            raw[key] = tuple(raw[key])
        return BenchmarkOptions(**raw)


@dataclass(frozen=True)
class CellSpec:
    """One cell: a format at a precision, with the run's options (written as JSON for the child)."""

    format: str
    precision: str
    options: BenchmarkOptions

    @property
    def name(self) -> str:
        return f"{self.format}-{self.precision}"

    def row(self, status: str | None, stage: str, error: str | None = None) -> dict:
        """The cell's result row before any figure: who it is, its status, where it stopped."""
        return {"cell": self.name, "format": self.format, "precision": self.precision, "status": status,
                "stage": stage, "error": error}

    def artifact_dir(self) -> Path:
        return Path(self.options.out).resolve() / "artifacts" / self.name

    def to_json(self) -> str:
        return json.dumps({"format": self.format, "precision": self.precision,
                           "options": self.options.to_dict()}, indent=2)

    @staticmethod
    def from_json(text: str) -> CellSpec:
        raw = json.loads(text)
        return CellSpec(raw["format"], raw["precision"], BenchmarkOptions.from_dict(raw["options"]))


def reference_cell(options: BenchmarkOptions) -> CellSpec:
    return CellSpec(REFERENCE_FORMAT, "fp32", options)

