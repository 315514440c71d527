"""Which quantized convs of an int8 ONNX model overflow int16 on x86 CPUs without VNNI.

    python benchmarks/int8_saturation.py yolo11n-pose_onnx_int8/yolo11n-pose.onnx [--images 1]

ONNX Runtime's u8 x s8 kernel for AVX2 / AVX-512 without VNNI multiplies raw u8
activations by s8 weights with VPMADDUBSW, which adds each pair of neighbouring products
(two input channels at one kernel tap, NHWC im2col order) into a saturating int16; VNNI
and AMX sum in int32. This replays that pairing on the real u8 tensors (from an unfused
session, on letterboxed real images) and prints, per conv, the saturated pairs and the
worst accumulator error. Runs natively, in about a minute per 640x640 image; figures
only, nothing is asserted (tests/backends/test_int8_portability.py runs the real kernels).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from poseexport.paths import shared_data_dir
from poseexport.predict import preprocess, read_image

INT16 = (-32768, 32767)


def quantized_convs(graph, initializers: dict) -> list[tuple]:
    """(name, u8 input tensor, s8 weights, attributes, input zero point) of each fused u8 x s8 conv."""
    import onnx

    producer = {out: node for node in graph.node for out in node.output}
    found = []
    for node in graph.node:
        dq_x, dq_w = producer.get(node.input[0]), producer.get(node.input[1]) if len(node.input) > 1 else None
        if node.op_type != "Conv" or not (dq_x and dq_w) or {dq_x.op_type, dq_w.op_type} != {"DequantizeLinear"}:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        weights = initializers.get(dq_w.input[0])
        if weights is None or weights.dtype != np.int8 or attrs.get("group", 1) != 1:
            continue  # depth-wise convs use MLAS's int32 depth-wise kernel
        zero = int(initializers[dq_x.input[2]]) if len(dq_x.input) > 2 else 0
        found.append((node.name, dq_x.input[0], weights, attrs, zero))
    return found


def im2col_nhwc(a: np.ndarray, kh: int, kw: int, attrs: dict, pad_value: int) -> np.ndarray:
    """(C, H, W) -> (positions, kh*kw*C), channels innermost, as the NHWC kernel packs K."""
    st, dil = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1])
    pads = attrs.get("pads", [0, 0, 0, 0])
    a = np.pad(a, ((0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=pad_value)
    h = (a.shape[1] - dil[0] * (kh - 1) - 1) // st[0] + 1
    w = (a.shape[2] - dil[1] * (kw - 1) - 1) // st[1] + 1
    taps = [a[:, y * dil[0]:y * dil[0] + st[0] * h:st[0], x * dil[1]:x * dil[1] + st[1] * w:st[1]]
            for y in range(kh) for x in range(kw)]
    return np.stack(taps).transpose(2, 3, 0, 1).reshape(h * w, -1)


def pair_saturation(cols: np.ndarray, weights: np.ndarray, chunk: int = 256) -> tuple[int, int, int]:
    """(saturated pairs, worst |accumulator error|, largest exact |accumulator|)."""
    o = weights.shape[0]
    w = weights.astype(np.int32).transpose(0, 2, 3, 1).reshape(o, -1).T  # K, O
    if cols.shape[1] % 2:
        cols, w = np.pad(cols, ((0, 0), (0, 1))), np.pad(w, ((0, 1), (0, 0)))
    a0, a1, w0, w1 = cols[:, 0::2], cols[:, 1::2], w[0::2], w[1::2]
    count, worst = 0, 0
    for p in range(0, len(cols), chunk):
        pairs = a0[p:p + chunk, :, None] * w0[None] + a1[p:p + chunk, :, None] * w1[None]
        lost = np.clip(pairs, *INT16) - pairs
        count += int(np.count_nonzero(lost))
        worst = max(worst, int(np.abs(lost.sum(1)).max()))
    return count, worst, int(np.abs(cols @ w).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an int8 QDQ .onnx file")
    parser.add_argument("--images", type=int, default=1, help="how many of bus.jpg, zidane.jpg, coco-val-pose")
    args = parser.parse_args()
    import onnx
    import onnxruntime as ort

    model = onnx.load(args.model)
    graph = model.graph
    initializers = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    convs = quantized_convs(graph, initializers)
    tensors = list(dict.fromkeys(c[1] for c in convs))
    graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.UINT8, None) for t in tensors)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the u8 tensors
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    size = graph.input[0].type.tensor_type.shape.dim[2].dim_value or 640
    data = shared_data_dir()
    files = [data / "images" / "bus.jpg", data / "images" / "zidane.jpg",
             *sorted((data / "coco-val-pose" / "images").glob("*.jpg"))][:args.images]
    totals: dict[str, list[int]] = {}
    for path in files:
        x, _ = preprocess([read_image(Path(path))], size)
        values = dict(zip(tensors, session.run(tensors, {graph.input[0].name: x})))
        for name, tensor, weights, attrs, zero in convs:
            cols = im2col_nhwc(values[tensor][0].astype(np.int32), *weights.shape[2:], attrs, zero)
            result = pair_saturation(cols, weights)
            old = totals.setdefault(name, [0, 0, 0, cols.shape[1]])
            totals[name] = [old[0] + result[0], max(old[1], result[1]), max(old[2], result[2]), old[3]]
    for name, (count, worst, exact, k) in totals.items():
        print(f"{name:32} K={k:5d} saturated pairs {count:8d}  worst error {worst:6d} of |acc| <= {exact}"
              + ("  SATURATES" if count else ""))
    print(f"{sum(1 for t in totals.values() if t[0])} of {len(totals)} u8 x s8 convs saturate on "
          f"{len(files)} image(s); weights |w| <= {max(int(np.abs(c[2]).max()) for c in convs)}")


if __name__ == "__main__":
    main()
