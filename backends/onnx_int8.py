"""ONNX INT8: ONNX Runtime static QDQ quantization, calibrated on real images.

What int8 breaks in a pose model is the head's output: one scale cannot hold pixel
coordinates (hundreds) and 0-1 scores, the DFL softmax loses its small probabilities,
anchor arithmetic turns one quantisation step into pixels, and the last 1x1 conv of the
keypoint branch mixes offsets with visibility logits in one tensor. So the head branches
(box, score, keypoint convs after the neck) and everything after them (DFL softmax and
conv, anchors, sigmoids, keypoint decode, the final Concat, an in-graph NMS) stay float;
they are found by graph structure, walking back from the outputs, not by node names.
Measured on yolo11n-pose / coco-val-pose (211 calibration images): float decode + last
head convs loses 1.8 points of pose mAP50-95 (46 / 31 ms at 1 / 2 threads); float head
branches lose 0.7 (0.528 vs 0.535, 8-bit or 7-bit weights; 57 / 35 ms on a 2-core Xeon with AMX).

Activation ranges: the 99.999th percentile of |x| over the calibration images. Plain
min/max gets worse as the calibration set grows (one outlier widens a range for good);
measured on yolo11n-pose, see tests/backends/test_onnx_int8.py.

Weights: signed 7-bit (reduce_range), per output channel, so that the artifact computes the
same on every x86 CPU. ONNX Runtime runs u8 activations x s8 weights with VNNI or AMX
(exact int32 sums) where the CPU has them, and otherwise (AVX2, AVX-512 without VNNI)
with VPMADDUBSW, which adds two u8 x s8 products into a saturating int16: with 8-bit
weights 255 * 127 * 2 overflows it, with 7-bit weights (|w| <= 64) 255 * 64 * 2 = 32640
never does. Measured on yolo11n-pose (211 calibration images), 8-bit weights: 18 of the
62 u8 x s8 convs saturate on bus.jpg + zidane.jpg (benchmarks/int8_saturation.py), worst
the stem conv on the raw image (a quarter of its accumulator); under qemu -cpu Haswell
the raw output on bus.jpg moved by 117 px against the same file on a VNNI CPU. 7-bit
weights: the two runs agree to 1.2e-4. Cost: none in pose mAP50-95 on coco-val-pose
(0.528 for both; fp32 0.535) or latency (57 / 35 ms vs 58 / 38 ms at 1 / 2 threads); matched
keypoints 2.6 px from fp32 instead of 1.7.
u8 x u8 (QUInt8 weights) is exact everywhere too, scored 0.525 and ran at 83 / 48 ms
here: ONNX Runtime has no VNNI / AMX kernel for it.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from poseexport.contract import require
from poseexport.errors import ExportFailedError

LEARNED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
LAYOUT_OPS = ("Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity")
HIST_BINS = 2048
HISTOGRAM_CHUNK = 8  # images per pass of ONNX Runtime's histogram calibrators (they keep activations)


@dataclass(frozen=True)
class Int8Recipe:
    """How to quantize. DEFAULT_RECIPE is what measurements on yolo11n-pose chose."""

    calibration: str = "Percentile"  # Percentile (ours, streaming) | MinMax | Entropy (ONNX Runtime's)
    percentile: float = 99.999
    per_channel: bool = True  # per-output-channel weight scales (per-tensor: +50% keypoint error)
    float_head: str = "branches"  # float after the neck: "branches" (whole head) | "last" (last convs) | "decode"
    activation_type: str = "QUInt8"  # U8S8: ONNX Runtime's fast x86 path (VNNI / AMX / VPMADDUBSW)
    weight_type: str = "QInt8"
    reduce_range: bool = True  # 7-bit weights: no int16 saturation on x86 CPUs without VNNI

    def describe(self, excluded: int, ort_version: str) -> str:
        cal = f"Percentile {self.percentile:g}" if self.calibration == "Percentile" else self.calibration
        weights = ("7-bit " if self.reduce_range else "") + ("per-channel" if self.per_channel else "per-tensor")
        kept = {"branches": "head branches and decode", "last": "head decode and last head convs",
                "decode": "head decode"}[self.float_head]
        return (f"onnxruntime {ort_version} static QDQ: {self.activation_type} activations ({cal} "
                f"calibration), {self.weight_type} {weights} weights; {kept} kept float "
                f"({excluded} nodes excluded)")


DEFAULT_RECIPE = Int8Recipe()


def quantize_int8(model, ctx, out_dir: Path):
    """fp32 ModelProto -> (int8 QDQ ModelProto, method string for the metadata)."""
    if ctx.calibration is None:
        raise ExportFailedError("INT8 export has no calibration images", "none were loaded",
                                "pass --data with a folder of images or a dataset yaml")
    return quantize_model(model, ctx.calibration.images, Path(ctx.work_dir) / "int8", DEFAULT_RECIPE)


def quantize_model(model, images: np.ndarray, work_dir: Path, recipe: Int8Recipe = DEFAULT_RECIPE):
    """Calibrate on `images` (float32 NCHW RGB [0, 1]) and quantize; the head output stays float."""
    onnx = require("onnx", "onnx")
    ort = require("onnxruntime", "onnx")
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    work_dir.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path = work_dir / "fp32.onnx", work_dir / "int8.onnx"
    ranges = work_dir / f"ranges-{recipe.calibration}.json"
    name_unnamed_nodes(model.graph)
    decode, head_convs = head_decode_nodes(model.graph)
    if recipe.float_head == "branches":
        excluded = decode + head_branch_nodes(model.graph, head_convs)
    else:
        excluded = decode + (head_convs if recipe.float_head == "last" else [])
    onnx.save(model, str(fp32_path))
    try:
        calibrate(model, fp32_path, images, recipe, set(excluded), ranges)
        # quantize_static reads the ranges back from the cache file instead of calibrating itself
        with _without_preprocess_advice():
            quantize_static(str(fp32_path), str(int8_path), calibration_data_reader=None,
                            quant_format=QuantFormat.QDQ, per_channel=recipe.per_channel,
                            reduce_range=recipe.reduce_range,
                            activation_type=QuantType[recipe.activation_type],
                            weight_type=QuantType[recipe.weight_type], nodes_to_exclude=excluded,
                            calibrate_method=CalibrationMethod[recipe.calibration],
                            calibration_cache_path=str(ranges))
    except ExportFailedError:
        raise
    except Exception as err:
        raise ExportFailedError("ONNX Runtime INT8 quantization failed", f"{type(err).__name__}: {err}",
                                "check the calibration images, or export fp16 / fp32 instead") from err
    return onnx.load(str(int8_path)), recipe.describe(len(excluded), ort.__version__)


@contextlib.contextmanager
def _without_preprocess_advice():
    """quantize_static logs "consider pre-processing" on the root logger (which also installs a
    root handler in the user's process). Measured: quant_pre_process changes nothing here."""
    root = logging.getLogger()
    quiet = logging.NullHandler() if not root.handlers else None  # keeps logging.warning from basicConfig()

    def advice(record: logging.LogRecord) -> bool:
        return "pre-process" not in record.getMessage()

    if quiet:
        root.addHandler(quiet)
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)
        if quiet:
            root.removeHandler(quiet)


class ImageReader:
    """A CalibrationDataReader over a float32 NCHW image array, `batch` images per feed
    (by duck typing, so that importing this module does not import onnxruntime)."""

    def __init__(self, input_name: str, images: np.ndarray, batch: int = 1):
        self.input_name, self.images, self.batch = input_name, images, batch
        self._feeds: Iterator[dict] = iter(())
        self.rewind()

    def get_next(self) -> dict | None:
        return next(self._feeds, None)

    def rewind(self) -> None:
        self._feeds = ({self.input_name: b} for b in _batches(self.images, self.batch))

    def __len__(self) -> int:
        return (len(self.images) + self.batch - 1) // self.batch

    def __iter__(self) -> ImageReader:
        return self

    def __next__(self) -> dict:
        feed = self.get_next()
        if feed is None:
            raise StopIteration
        return feed


def _batches(images: np.ndarray, batch: int):
    """Fixed-size batches (a static batch dim); the last one is filled up with the first images."""
    for i in range(0, len(images), batch):
        b = images[i:i + batch]
        if len(b) < batch:
            b = np.concatenate([b, np.resize(images, (batch - len(b),) + images.shape[1:])])
        yield np.ascontiguousarray(b, dtype=np.float32)


def calibrate(model, fp32_path: Path, images: np.ndarray, recipe: Int8Recipe, excluded: set[str],
              out: Path) -> None:
    """Measure the activation ranges and write them as an ONNX Runtime calibration cache."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        create_calibrator,
        save_tensors_data,
    )

    graph_input = model.graph.input[0]
    dim = graph_input.type.tensor_type.shape.dim[0]
    batch = dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else 1
    if recipe.calibration == "Percentile":
        reader = ImageReader(graph_input.name, images, batch)
        save_tensors_data(percentile_ranges(model, reader, recipe.percentile, excluded), out)
        return
    calibrator = create_calibrator(fp32_path, quantizable_ops(),
                                   augmented_model_path=str(out.with_suffix(".augmented.onnx")),
                                   calibrate_method=CalibrationMethod[recipe.calibration])
    # MinMax keeps two numbers per image; the histogram calibrators keep every activation
    # until they bin it, so they get the images in chunks
    chunk = len(images) if recipe.calibration == "MinMax" else HISTOGRAM_CHUNK * batch
    for start in range(0, len(images), chunk):
        calibrator.collect_data(ImageReader(graph_input.name, images[start:start + chunk], batch))
    save_tensors_data(calibrator.compute_data(), out)


def percentile_ranges(model, reader: ImageReader, percentile: float, excluded: set[str] = frozenset()):
    """Activation ranges clipped at the `percentile` of |x|, from streaming histograms.

    The statistic of ONNX Runtime's Percentile calibrator, about 5x faster and in bounded
    memory: one image's activations at a time, uniform bins filled by bincount, the bin
    range doubled (pairs of bins merged) when a larger value arrives.
    """
    onnx = require("onnx", "onnx")
    ort = require("onnxruntime", "onnx")
    from onnxruntime.quantization import CalibrationMethod, TensorData, TensorsData

    tensors = calibrated_tensors(model, excluded)
    # a sigmoid's range is known, (0, 1): not measuring them saves a third of the work
    bounded = {n.output[0] for n in model.graph.node if n.op_type == "Sigmoid"} & set(tensors)
    names = [t for t in tensors if t not in bounded]
    augmented = onnx.ModelProto()
    augmented.CopyFrom(model)
    present = {o.name for o in augmented.graph.output}
    augmented.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                                  for n in names if n not in present)
    session = ort.InferenceSession(augmented.SerializeToString(), providers=["CPUExecutionProvider"])
    stats: dict[str, list] = {}  # name -> [bin range, histogram of |x|, lowest, highest]
    for feed in reader:
        for name, value in zip(names, session.run(names, feed)):
            _accumulate(stats, name, np.asarray(value, dtype=np.float32).ravel())
    ranges = {name: TensorData(lowest=np.float32(0), highest=np.float32(1)) for name in bounded}
    for name, (edge, hist, lowest, highest) in stats.items():
        cdf = np.cumsum(hist) / max(int(hist.sum()), 1)
        bin_index = min(int(np.searchsorted(cdf, percentile / 100)), HIST_BINS - 1)
        limit = (bin_index + 1) * edge / HIST_BINS
        ranges[name] = TensorData(lowest=np.float32(max(-limit, lowest)),
                                  highest=np.float32(min(limit, highest)))
    return TensorsData(CalibrationMethod.Percentile, ranges)


def _accumulate(stats: dict, name: str, values: np.ndarray) -> None:
    if not values.size:
        return
    lowest, highest = float(values.min()), float(values.max())
    peak = max(-lowest, highest)
    entry = stats.get(name)
    if entry is None:
        entry = stats[name] = [max(peak, 1e-12), np.zeros(HIST_BINS, np.int64), lowest, highest]
    if peak > entry[0]:  # widen by a power of two so that old bins merge exactly
        factor = 2 ** int(np.ceil(np.log2(peak / entry[0])))
        merged = np.bincount(np.arange(HIST_BINS) // factor, weights=entry[1], minlength=HIST_BINS)
        entry[1] = merged[:HIST_BINS].astype(np.int64)
        entry[0] *= factor
    bins = np.abs(values)
    bins *= HIST_BINS / entry[0]
    np.minimum(bins, HIST_BINS - 1, out=bins)  # clamp in float, then a single cast (3x faster)
    entry[1] += np.bincount(bins.astype(np.intp), minlength=HIST_BINS)
    entry[2], entry[3] = min(entry[2], lowest), max(entry[3], highest)


def calibrated_tensors(model, excluded: set[str] = frozenset()) -> list[str]:
    """Float activations read or written by the nodes that will be quantized."""
    onnx = require("onnx", "onnx")
    graph = onnx.shape_inference.infer_shapes(model).graph
    floats = {v.name for v in (*graph.value_info, *graph.input, *graph.output)
              if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    constants = {i.name for i in graph.initializer}
    ops = set(quantizable_ops())
    names: dict[str, None] = {}  # ordered set
    for node in graph.node:
        if node.op_type in ops and node.name not in excluded:
            names.update((t, None) for t in (*node.input, *node.output) if t in floats and t not in constants)
    return list(names)


def quantizable_ops() -> list[str]:
    """Every op type ONNX Runtime's static quantizer knows (its default selection)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def name_unnamed_nodes(graph) -> None:
    """Exclusion works by node name: give every nameless node a unique one."""
    taken = {n.name for n in graph.node}
    for i, node in enumerate(graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def head_decode_nodes(graph) -> tuple[list[str], list[str]]:
    """(decode node names, last head conv names), found by walking back from the outputs.

    The walk stops at each learned layer (Conv/MatMul/Gemm): those are the last convs of
    the head branches. A conv fed by a softmax (through layout ops) is the DFL expectation,
    part of the decode, so the walk goes on through it. Shape nodes belong to the decode
    but their input is not followed (only its shape is read).
    """
    producer = {out: node for node in graph.node for out in node.output}
    decode: dict[str, None] = {}
    heads: dict[str, None] = {}
    stack = [producer[o.name] for o in graph.output if o.name in producer]
    while stack:
        node = stack.pop()
        if node.name in decode or node.name in heads:
            continue
        if node.op_type in LEARNED_OPS and not _fed_by_softmax(node, producer):
            heads[node.name] = None
            continue
        decode[node.name] = None
        if node.op_type != "Shape":
            stack.extend(producer[i] for i in node.input if i in producer)
    if not heads:
        raise ExportFailedError("Cannot find the pose head in the ONNX graph",
                                "no convolution was found upstream of the outputs",
                                "INT8 needs a convolutional model; export fp16 or fp32 instead")
    return list(decode), list(heads)


def head_branch_nodes(graph, head_convs: list[str]) -> list[str]:
    """Every node of the head branches: from each last head conv back to the neck output.

    The walk climbs while a tensor has a single consumer (a SiLU's input, read by its
    Sigmoid and its Mul, counts as one); a neck output feeds several branches and stops it.
    """
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node.op_type)

    def private(tensor: str) -> bool:
        users = consumers.get(tensor, [])
        return len(users) == 1 or sorted(users) == ["Mul", "Sigmoid"]

    wanted = set(head_convs)
    seen: dict[str, None] = {}
    stack = [n for n in graph.node if n.name in wanted]
    while stack:
        node = stack.pop()
        if node.name in seen:
            continue
        seen[node.name] = None
        stack.extend(producer[t] for t in node.input if t in producer and private(t))
    return list(seen)


def _fed_by_softmax(node, producer) -> bool:
    tensor = node.input[0] if node.input else ""
    while tensor in producer:
        up = producer[tensor]
        if up.op_type == "Softmax":
            return True
        if up.op_type not in LAYOUT_OPS:
            return False
        tensor = up.input[0]
    return False
