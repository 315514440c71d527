#!/usr/bin/env bash
# Build the throw-away Ultralytics peer environment used by benchmarks/peers/*.
#
#   bash benchmarks/peers/setup_ultralytics_env.sh /work/peers/ultralytics-venv
#
# Idempotent: re-running it re-checks every step and rewrites the shim. Ultralytics is
# AGPL and is NEVER a dependency of poseexport: it lives only in this separate venv,
# outside the repository, and is driven through subprocesses.
#
# Why a torchvision shim: PyPI's torchvision wheels for Linux are CUDA builds whose _C.so
# links libtorch_cuda/libc10_cuda, which the CPU torch (torch==2.13.0+cpu) lacks, so
# `import torchvision` fails ("operator torchvision::nms does not exist"), and no CPU
# build is reachable here. On the paths we use (pose predict, val, loss, train, and
# torchscript/onnx/openvino export) Ultralytics needs from torchvision only its version
# in the package metadata and `torchvision.ops.nms`. The shim written below provides
# exactly that, in plain torch (our own code), and says so in its metadata.
set -euo pipefail

VENV="${1:?usage: $0 VENV_DIR}"
PYTHON_BIN="${PYTHON_BIN:-python3}"
# Same pins as poseexport's extras (pyproject.toml), so both sides run the same toolchains.
TORCH_PIN="torch==2.13.0"
TOOL_PINS=(
    "numpy>=2,<2.4" "opencv-python-headless==5.0.0.93"
    "onnx==1.23.2" "onnxslim==0.1.98" "onnxruntime==1.32.0"
    "openvino==2026.4.1" "nncf==3.4.0"
)
# The TF family as Ultralytics 8.4.190 exports it: `tflite`/`litert` through litert-torch (run by
# ai-edge-litert), `saved_model` through onnx2tf + TensorFlow. Same pins as poseexport's `tf` /
# `tflite` extras. onnx2tf 1.28.8 declares no dependencies (1.29 hard-pins old numpy/onnx/TF), so
# its imports are listed; the full tensorflow wheel lets tf-keras install with its dependencies.
TF_PINS=(
    "litert-torch==0.10.0" "ai-edge-litert==2.3.0"
    "tensorflow==2.21.0" "tf-keras==2.21.0" "onnx2tf==1.28.8"
    "onnx-graphsurgeon==0.6.1" "sng4onnx==2.0.1" "sne4onnx==2.0.1" "psutil"
)
ULTRALYTICS_PIN="${ULTRALYTICS_PIN:-ultralytics==8.4.190}"
# Ultralytics' own runtime dependencies, minus torchvision (shimmed), opencv-python (the
# headless build above provides cv2), nvidia-ml-py (GPU only) and ultralytics-platform
# (a cloud SDK imported lazily, never on our paths).
ULTRALYTICS_DEPS=(matplotlib pillow polars psutil pyyaml requests scipy ultralytics-thop)

[ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
"${PIP[@]}" "$TORCH_PIN"                 # the CPU wheel from the local find-links; pinned, never unpinned
"${PIP[@]}" "$TORCH_PIN" "${TOOL_PINS[@]}" "${TF_PINS[@]}" "${ULTRALYTICS_DEPS[@]}"
"${PIP[@]}" --no-deps "$ULTRALYTICS_PIN"

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# A real torchvision (e.g. pulled in by hand) would shadow or fight the shim: remove it.
if "$VENV/bin/python" -m pip show torchvision 2>/dev/null | grep -q '^Summary: poseexport peer shim'; then :; else
    "$VENV/bin/python" -m pip uninstall -y -q torchvision 2>/dev/null || true
fi
rm -rf "$SITE/torchvision" "$SITE"/torchvision-*.dist-info
mkdir -p "$SITE/torchvision/ops" "$SITE/torchvision-0.28.0.dist-info"

cat > "$SITE/torchvision/__init__.py" <<'EOF'
"""Minimal stand-in for torchvision in the Ultralytics peer env (written by poseexport's
benchmarks/peers/setup_ultralytics_env.sh). Not torchvision: only what Ultralytics uses on
the pose predict / val / loss / train / export paths. Anything else fails loudly."""
from . import ops

__version__ = "0.28.0"  # the release paired with torch 2.13, so Ultralytics' version check stays quiet


def __getattr__(name):
    raise AttributeError(f"torchvision shim: '{name}' is not provided (only torchvision.ops.nms is)")
EOF

cat > "$SITE/torchvision/ops/__init__.py" <<'EOF'
"""Greedy non-maximum suppression in plain torch, same contract as torchvision.ops.nms."""
import torch


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix between xyxy boxes a (N, 4) and b (M, 4)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices (int64, by decreasing score) of the boxes kept: a box is dropped when its IoU
    with a higher-scoring kept box is strictly greater than iou_threshold."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order].float()
    suppressed = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)
    keep = []
    for i in range(len(order)):  # greedy; the candidate count after the confidence filter is small
        if suppressed[i]:
            continue
        keep.append(i)
        if i + 1 < len(order):
            suppressed[i + 1 :] |= box_iou(boxes[i : i + 1], boxes[i + 1 :])[0] > iou_threshold
    return order[torch.tensor(keep, dtype=torch.int64, device=boxes.device)]


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS per category: offset boxes by category so different categories never overlap."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    offsets = idxs.to(boxes) * (boxes.max() + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)
EOF

cat > "$SITE/torchvision-0.28.0.dist-info/METADATA" <<'EOF'
Metadata-Version: 2.1
Name: torchvision
Version: 0.28.0
Summary: poseexport peer shim: torchvision.ops.nms in plain torch, not the real torchvision
EOF
echo "poseexport-peer-setup" > "$SITE/torchvision-0.28.0.dist-info/INSTALLER"
{
    echo "torchvision/__init__.py,,"
    echo "torchvision/ops/__init__.py,,"
    echo "torchvision-0.28.0.dist-info/METADATA,,"
    echo "torchvision-0.28.0.dist-info/INSTALLER,,"
    echo "torchvision-0.28.0.dist-info/RECORD,,"
} > "$SITE/torchvision-0.28.0.dist-info/RECORD"

# Ultralytics settings live beside the venv, never in ~/.config; no network, no auto-install.
CONFIG_DIR="$(cd "$VENV/.." && pwd)/ultralytics-config"
mkdir -p "$CONFIG_DIR"
export YOLO_CONFIG_DIR="$CONFIG_DIR" YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False YOLO_VERBOSE=False
"$VENV/bin/python" - <<'EOF'
from ultralytics.utils import SETTINGS
import os
root = os.path.dirname(os.environ["YOLO_CONFIG_DIR"])
# No telemetry, no logger integrations, and nothing written into the repository or ~ (datasets/weights/runs).
SETTINGS.update({k: False for k, v in SETTINGS.items() if isinstance(v, bool)})
SETTINGS.update({"datasets_dir": f"{root}/ultralytics-datasets", "weights_dir": f"{root}/ultralytics-weights",
                 "runs_dir": f"{root}/ultralytics-runs"})
import torch, torchvision
from torchvision.ops import nms
b = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.float32)
assert nms(b, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
print("ultralytics peer env ok: torch", torch.__version__, "torchvision shim", torchvision.__version__)
EOF
"$VENV/bin/python" - <<'EOF'
# The TF-family toolchains import (litert-torch for `litert`, onnx2tf + TF for `saved_model`/`pb`).
import ai_edge_litert.interpreter, litert_torch, onnx2tf, tensorflow as tf, tf_keras  # noqa: F401
print("tf family ok: tensorflow", tf.__version__, "litert-torch", litert_torch.__version__)
EOF
# What the peer scripts read (benchmarks/peers/loss_crosscheck.py): the python and the environment.
READY="$(cd "$VENV/.." && pwd)/READY"
{
    echo "# written by poseexport's benchmarks/peers/setup_ultralytics_env.sh"
    echo "PYTHON=$(cd "$VENV" && pwd)/bin/python"
    echo "ENV=\"YOLO_CONFIG_DIR=$CONFIG_DIR YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False PIP_NO_INDEX=1\""
} > "$READY"
echo "env: YOLO_CONFIG_DIR=$CONFIG_DIR YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False PIP_NO_INDEX=1 (recorded in $READY)"
