"""ONNX -> Paddle inference model with x2paddle's onnx2paddle. Runs in the converter process.

Why this route: the fp32 ONNX is the source the pipeline already builds and validates (OpenVINO
and the TF family convert from it too), the child needs no torch (run_converter's rule), and
the result matches ONNX Runtime (docs/paddle.md). x2paddle's other route, pytorch2paddle, would
need the live torch module in the child. Its feedback (a request to a Baidu statistics server
per conversion) is off: `disable_feedback=True`, and its sender is replaced by one that refuses
to run, so a future x2paddle that ignored the flag fails loudly instead of sending.

x2paddle writes a PIR program (`model.json`) and its weights (`model.pdiparams`) under
`inference_model/`, plus generated Python code and dygraph weights that are not needed to run:
only the first two become the artifact (`<stem>.json`, `<stem>.pdiparams`).
"""
from __future__ import annotations

import importlib.metadata as md
import shutil
import time
from pathlib import Path

from .paddle_onnx_shims import drop_unit_maxpool_dilations, install_onnx_shims


class FeedbackRefused(RuntimeError):
    pass


class NoFeedback:
    """Stands in for x2paddle.utils.ConverterCheck, the thread that sends the feedback."""

    def __init__(self, *args, **kwargs):
        raise FeedbackRefused("x2paddle tried to send its conversion feedback although disable_feedback=True")


def convert(request: dict) -> dict:
    import warnings

    import onnx

    warnings.filterwarnings("ignore", message="No ccache found")  # Paddle's import warns about its C++ builds

    install_onnx_shims()
    import x2paddle.convert

    x2paddle.convert.ConverterCheck = NoFeedback  # the name onnx2paddle calls
    start = time.monotonic()
    model = onnx.load(request["source"])
    dropped = drop_unit_maxpool_dilations(model)
    work = Path("x2paddle").resolve()  # the converter's run folder (its cwd)
    work.mkdir()
    source = work / "source.onnx"
    onnx.save(model, str(source))
    x2paddle.convert.onnx2paddle(str(source), str(work / "out"), disable_feedback=True)
    written = work / "out" / "inference_model"
    program, params = written / "model.json", written / "model.pdiparams"
    if not (program.is_file() and params.is_file()):  # x2paddle logs its errors and returns
        raise RuntimeError(f"x2paddle's onnx2paddle wrote no inference model (no {program.name} and "
                           f"{params.name} in {written}); its log above says why")
    out_dir, stem = Path(request["out_dir"]), request["stem"]
    final = out_dir / f"{stem}.json", out_dir / f"{stem}.pdiparams"
    shutil.move(program, final[0])
    shutil.move(params, final[1])
    return {"program": str(final[0]), "params": str(final[1]), "seconds": time.monotonic() - start,
            "maxpool_dilations_dropped": dropped, "feedback": "disabled",
            "versions": {name: md.version(name) for name in ("paddlepaddle", "x2paddle", "onnx")}}
