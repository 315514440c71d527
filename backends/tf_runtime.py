"""TensorFlow in the user's process, for the SavedModel and GraphDef runners."""
from __future__ import annotations

import logging
import os

from poseexport.contract import require
from poseexport.errors import UnsupportedOptionError

_log = logging.getLogger(__name__)


def import_tensorflow(threads: int | None):
    """TensorFlow with its CPU threads capped at `threads`. TensorFlow fixes its thread pools the
    first time it runs anything, so a later, different cap cannot be honoured: refused, not ignored."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # INFO lines on every import otherwise
    tf = require("tensorflow", "tf")
    if not threads:
        return tf
    cfg = tf.config.threading
    current = cfg.get_intra_op_parallelism_threads()
    if current == threads:
        return tf
    try:
        cfg.set_intra_op_parallelism_threads(int(threads))
        cfg.set_inter_op_parallelism_threads(1)
    except RuntimeError as err:  # "... cannot be modified after initialization"
        raise UnsupportedOptionError(
            f"TensorFlow cannot switch to {threads} thread(s) in this process",
            f"it already runs with {current or 'its default number of'} threads, fixed when it first ran "
            f"({err})", "open TensorFlow artifacts in one process with one thread count, or run each "
            "thread count in its own process (poseexport benchmark does)") from err
    return tf


def check_cpu(device: str, title: str) -> None:
    from poseexport.device import parse_device

    dev = parse_device(device)
    if dev.kind != "cpu":
        raise UnsupportedOptionError(f"{title} artifacts run on the CPU here, not on {dev}",
                                     "poseexport installs the CPU build of TensorFlow",
                                     "pass --device cpu, or export ONNX or TorchScript for CUDA")
