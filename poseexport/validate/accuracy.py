"""mAP of an artifact next to its PyTorch model, measured by the same val code in one run."""
from __future__ import annotations


def compare_accuracy(model, artifact, data: str, **options) -> dict:
    """Both models on `data` at the artifact's input size; returns both reports and the deltas."""
    from ..val import validate_model

    imgsz = artifact.resolve_imgsz(options.pop("imgsz", None))
    ours = validate_model(artifact, data, imgsz=imgsz, **options).to_dict()
    ref = validate_model(model, data, imgsz=imgsz, **options).to_dict()
    delta = {f"{task}_{key}": ours[task][key] - ref[task][key]
             for task in ("box", "pose") for key in ("map50-95", "map50")}
    return {"artifact": ours, "pytorch": ref, "delta": delta}
