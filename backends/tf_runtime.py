"""TensorFlow in the user's process, for the SavedModel and GraphDef runners: each runner runs in
its own TF1-style session, so that its thread count is its own."""
from __future__ import annotations

import os

import numpy as np

from poseexport.contract import Runner, require
from poseexport.errors import UnsupportedOptionError


def import_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # INFO lines on every import otherwise
    return require("tensorflow", "tf")


def session(tf, graph, threads: int | None):
    """A TF session on `graph` with its own thread pools: `threads` caps them for this runner
    alone (TensorFlow's global threading config is fixed once it first runs, sessions are not)."""
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=int(threads or 0),
                                      inter_op_parallelism_threads=1 if threads else 0)
    return tf.compat.v1.Session(graph=graph, config=config)


def check_cpu(device: str, title: str) -> None:
    from poseexport.device import parse_device

    dev = parse_device(device)
    if dev.kind != "cpu":
        raise UnsupportedOptionError(f"{title} artifacts run on the CPU here, not on {dev}",
                                     "poseexport installs the CPU build of TensorFlow",
                                     "pass --device cpu, or export ONNX or TorchScript for CUDA")


class SessionRunner(Runner):
    """A runner that feeds `input_tensor` and fetches `output_tensors` in its own `session`."""

    session = None
    input_tensor = None
    output_tensors: list = []

    def infer(self, inputs: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_tensors, {self.input_tensor: inputs})

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = None
