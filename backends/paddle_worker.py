"""`python -m poseexport.backends.paddle_worker CONFIG_JSON`: the child that runs a Paddle model.

Paddle lives only here, never in the process that opened the artifact: `import tensorflow` (or
coremltools) followed by `import paddle` in one process segfaults. The child opens the model
with Paddle Inference, sends a "ready" frame (its input and output names, versions, the settings
it runs with), then answers each input frame with the outputs, until its stdin ends. It exits
when its parent dies (Linux: the kernel's parent-death signal; elsewhere: a watch on its parent).

Frames go out on the original stdout; fd 1 itself is pointed at stderr first, so whatever
Paddle's C++ prints cannot tear a frame.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

PARENT_POLL_S = 0.5


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    _die_with_parent(int(config["parent_pid"]))
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # C++ prints to fd 1 now reach stderr
    sys.stdout = sys.stderr
    frames_in = sys.stdin.buffer
    from poseexport.backends.paddle_frames import read_frame, write_frame

    try:
        predictor, ready = open_predictor(config)
    except Exception as err:  # noqa: BLE001 - every failure to open is the parent's error to raise
        write_frame(frames_out, {"ok": False, "error": f"{type(err).__name__}: {err}"})
        return 1
    write_frame(frames_out, {"ok": True, **ready})
    inputs = [predictor.get_input_handle(n) for n in ready["inputs"]]
    outputs = [predictor.get_output_handle(n) for n in ready["outputs"]]
    while True:
        frame = read_frame(frames_in)
        if frame is None:  # the parent closed the runner (or is gone)
            return 0
        _, arrays = frame
        try:
            for handle, x in zip(inputs, arrays):
                handle.reshape(list(x.shape))
                handle.copy_from_cpu(x)
            predictor.run()
            outs = [h.copy_to_cpu() for h in outputs]
        except Exception as err:  # noqa: BLE001 - reported to the parent, which raises it
            write_frame(frames_out, {"ok": False, "error": f"{type(err).__name__}: {err}"})
            continue
        write_frame(frames_out, {"ok": True}, outs)


def open_predictor(config: dict):
    """A Paddle Inference predictor with the settings the artifact records; and what it runs with."""
    import warnings

    warnings.filterwarnings("ignore", message="No ccache found")  # Paddle's import warns about its C++ builds
    import paddle
    from paddle import inference

    settings = config["settings"]
    cfg = inference.Config(config["program"], config["params"])
    cfg.disable_gpu()
    if not settings.get("mkldnn", False):
        cfg.disable_mkldnn()  # oneDNN rejects nearest_interp's double-array scale attribute
    cfg.set_cpu_math_library_num_threads(int(config["threads"]))
    if not settings.get("ir_optim", True):
        cfg.switch_ir_optim(False)
    predictor = inference.create_predictor(cfg)
    ready = {"inputs": list(predictor.get_input_names()), "outputs": list(predictor.get_output_names()),
             "versions": {"paddlepaddle": paddle.__version__},
             "threads": cfg.cpu_math_library_num_threads(), "mkldnn": cfg.mkldnn_enabled()}
    return predictor, ready


def _die_with_parent(parent: int) -> None:
    """Exit as soon as the parent is gone, even while Paddle computes (a daemon thread watches)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # the watch below still ends us
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
