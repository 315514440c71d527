"""Refuse an export size this machine cannot hold, before tracing starts (not after minutes).

Tracing, the reference run, the converter and validation all hold the network's activations
for one input at the export size (times the batch). Their size is measured, not guessed: a
forward pass at a small size (PROBE_STRIDES strides a side) sums the bytes every leaf layer
outputs, and activations grow with the pixel count. Measured (yolo11n-pose, ONNX, validated,
2-core Xeon): peak RSS 0.80 GB at 640 and 1.41 GB at 1280, i.e. 0.61 GB more for 3 x 640^2
more pixels = 496 bytes per pixel, against the probe's 542 (the unfused leaf outputs), so the
probe is used as it is (RUNTIME_FACTOR 1). INT8 also holds the letterboxed calibration images.
The limit is the machine's physical memory: only sizes that cannot fit at all are refused.
"""
from __future__ import annotations

from ..errors import UnsupportedOptionError
from ..predict.imgsz_limits import physical_bytes
from .options import ExportOptions

PROBE_STRIDES = 4
RUNTIME_FACTOR = 1.0  # measured peak growth / probe sum (see above)


def activation_bytes_per_pixel(model) -> float:
    """Bytes of layer outputs per input pixel (one image), from one small forward pass."""
    import torch

    net = model.net
    param = next(net.parameters())
    side = PROBE_STRIDES * int(model.stride)
    total = [0]

    def count(_module, _inputs, output):
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    leaves = [m for m in net.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, 3, side, side, dtype=param.dtype, device=param.device))
    finally:
        net.train(was_training)
        for h in hooks:
            h.remove()
    return total[0] / (side * side)


def estimate_bytes(model, options: ExportOptions, calibration_images: int = 0) -> tuple[float, float]:
    """(activations, calibration) bytes an export of `options` (normalised) needs."""
    h, w = options.imgsz
    batch = max(options.batch, 2) if options.dynamic else options.batch
    activations = activation_bytes_per_pixel(model) * h * w * batch * RUNTIME_FACTOR
    return activations, calibration_images * 3 * h * w * 4.0


def check_memory(model, options: ExportOptions, limit: float | None = None) -> None:
    """Raise when the export at this size would need more memory than the machine has."""
    limit = physical_bytes() if limit is None else limit
    if not limit:
        return
    images = 0
    if options.int8 and options.data:
        from ..data.image_files import calibration_files

        images = len(calibration_files(str(options.data)))
        images = max(1, round(images * options.fraction)) if images else 0
    activations, calibration = estimate_bytes(model, options, images)
    need = activations + calibration
    if need <= limit:
        return
    h, w = options.imgsz
    parts = f"about {need / 1e9:,.1f} GB of memory (estimated: the network's activations"
    parts += f" and {images} letterboxed calibration images)" if calibration else ")"
    raise UnsupportedOptionError(
        f"--imgsz {h},{w} is too large to export on this machine",
        f"tracing, converting and validating {model.arch_name} at that size needs {parts}, "
        f"more than its {limit / 1e9:,.1f} GB",
        "use a smaller --imgsz (the official weights were trained at 640; 1280 or 1920 are large already)")
