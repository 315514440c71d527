"""The cells of the peer table and what each one means on either side.

A cell is `format:precision`, or `tflite:int8:KIND` for poseexport's three int8 TFLite kinds (each
with the format's default decode: host for the full-integer kinds, whose head maps are int8
tensors of their own decoded in float by poseexport), and `tflite:int8:KIND:DECODE` to pass
`--decode DECODE` explicitly.
Standard library only: compare_ultralytics.py (poseexport env) and its tests import it.
"""
from __future__ import annotations

from dataclasses import dataclass

CORE_CELLS = ("torchscript:fp32", "torchscript:fp16", "onnx:fp32", "onnx:fp16", "onnx:int8",
              "openvino:fp32", "openvino:fp16", "openvino:int8")
INT8_KINDS = ("dynamic-range", "full-integer", "full-integer-io", "float-keypoints")  # poseexport's --int8-kind values
DECODES = ("graph", "host")  # poseexport's --decode
TF_CELLS = ("tflite:fp32", "tflite:fp16", *(f"tflite:int8:{k}" for k in INT8_KINDS), "saved_model:fp32", "pb:fp32")
GROUPS = {"all": CORE_CELLS + TF_CELLS, "core": CORE_CELLS, "tf": TF_CELLS}
FORMATS = ("torchscript", "onnx", "openvino", "tflite", "saved_model", "pb")
PRECISIONS = ("fp32", "fp16", "int8")

# What Ultralytics 8.4.190 refuses or lacks on a CPU, with its reason (kept in the row).
THEIRS_UNSUPPORTED = {
    "torchscript:fp16": "Ultralytics exports FP16 TorchScript only on a GPU (device=0)",
    "tflite:fp16": "Ultralytics 8.4.190 writes no FP16 LiteRT model (quantize=16 is refused for litert: "
                   "it runs an FP32 model in FP16 at run time on GPU delegates / XNNPACK FORCE_FP16 on ARM)",
}
# Our tflite kind -> Ultralytics' LiteRT `quantize=` (via ultralytics_cells.py precision names).
THEIRS_TFLITE_INT8 = {"dynamic-range": "w8a32", "full-integer": "int8", "full-integer-io": "int8",
                      "float-keypoints": "int8"}
THEIRS_NOTES = {
    "tflite:int8:full-integer-io": "theirs: the same quantize=8 model (Ultralytics has no int8-I/O LiteRT export; "
                                   "it keeps float32 input/output and decodes in the graph)",
    "tflite:int8:full-integer": "theirs: quantize=8 (ai-edge-quantizer static int8 weights + activations, float I/O, "
                                "decode in the graph with coordinates divided by the image size)",
    "tflite:int8:dynamic-range": "theirs: quantize='w8a32' (int8 weights, float activations, no calibration)",
    "tflite:int8:float-keypoints": "theirs: the same quantize=8 model (Ultralytics has no mixed int8 / float "
                                   "LiteRT export)",
}


@dataclass(frozen=True)
class Cell:
    fmt: str
    precision: str
    int8_kind: str = ""  # tflite int8 only
    decode: str = ""  # ours: --decode, "" = the format's default (theirs has one way)

    @property
    def name(self) -> str:
        return (f"{self.fmt}:{self.precision}" + (f":{self.int8_kind}" if self.int8_kind else "")
                + (f":{self.decode}" if self.decode else ""))

    @property
    def dir_name(self) -> str:
        return self.name.replace(":", "_")

    def ours_convert_args(self, calib: str) -> list[str]:
        """The precision flags of `poseexport convert` for this cell."""
        flags = {"fp32": [], "fp16": ["--half"], "int8": ["--int8", "--data", calib]}[self.precision]
        return (flags + (["--int8-kind", self.int8_kind] if self.int8_kind else [])
                + (["--decode", self.decode] if self.decode else []))

    def theirs(self) -> tuple[str, str] | None:
        """(Ultralytics format, ultralytics_cells.py precision) for this cell; None where they have none."""
        if self.name in THEIRS_UNSUPPORTED:
            return None
        if self.fmt == "tflite":
            return "litert", THEIRS_TFLITE_INT8.get(self.int8_kind, self.precision)
        return self.fmt, self.precision


def parse_cell(text: str) -> Cell:
    """`fmt:precision` or `tflite:int8:KIND[:host]` -> Cell; ValueError says what is wrong."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3, 4) or parts[0] not in FORMATS or parts[1] not in PRECISIONS:
        raise ValueError(f"'{text}': use fmt:precision with fmt in {','.join(FORMATS)} and precision in "
                         f"{','.join(PRECISIONS)}, or tflite:int8:KIND[:host]")
    if parts[0] == "tflite" and parts[1] == "int8":
        if len(parts) < 3 or parts[2] not in INT8_KINDS:
            raise ValueError(f"'{text}': tflite int8 names its kind: tflite:int8:{{{','.join(INT8_KINDS)}}}")
        if len(parts) == 4 and parts[3] not in DECODES:
            raise ValueError(f"'{text}': the last part is the decode, one of {','.join(DECODES)}")
        return Cell("tflite", "int8", parts[2], parts[3] if len(parts) == 4 else "")
    if len(parts) > 2:
        raise ValueError(f"'{text}': only tflite:int8 takes a kind (and a decode)")
    if parts[0] in ("saved_model", "pb") and parts[1] != "fp32":
        raise ValueError(f"'{text}': {parts[0]} is fp32 only (quantised TF models are tflite cells)")
    return Cell(parts[0], parts[1])


def parse_cells(text: str) -> list[Cell]:
    """A comma-separated list of cells and group names (all, core, tf), in order, without repeats."""
    names: list[str] = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        names.extend(GROUPS.get(item, (item,)))
    return [parse_cell(n) for n in dict.fromkeys(names)]
