"""Peer half of loss_crosscheck.py: Ultralytics' own `v8PoseLoss` on the tensors we dumped.

Runs only in the throw-away Ultralytics environment (see /work/peers/READY), never in
poseexport's. It uses Ultralytics' public classes (YOLO, PoseModel, v8PoseLoss, get_cfg)
and no poseexport code:

    $PYTHON benchmarks/peers/loss_crosscheck_ultralytics.py CASES.npz CASES.json RESULT.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import ultralytics
from ultralytics import YOLO
from ultralytics.cfg import get_cfg
from ultralytics.nn.tasks import PoseModel
from ultralytics.utils.loss import v8PoseLoss


def peer_model(spec: dict):
    if "weights" in spec:
        model = YOLO(spec["weights"]).model
    else:
        model = PoseModel(spec["yaml"], nc=spec["nc"], data_kpt_shape=tuple(spec["kpt_shape"]), verbose=False)
    model.args = get_cfg()  # default hyper-parameters: box 7.5, cls 0.5, dfl 1.5, pose 12, kobj 1
    return model.float()


def predictions(arrays: dict, name: str, nc: int):
    """Leaf tensors (for gradients) and the training-output dict v8PoseLoss reads."""
    maps = [torch.from_numpy(arrays[f"{name}/map{i}"]).requires_grad_(True) for i in range(3)]
    kpt = torch.from_numpy(arrays[f"{name}/kpt"]).requires_grad_(True)
    b = maps[0].shape[0]
    boxes = torch.cat([m[:, :64].reshape(b, 64, -1) for m in maps], -1)
    scores = torch.cat([m[:, 64:].reshape(b, nc, -1) for m in maps], -1)
    return maps, kpt, {"boxes": boxes, "scores": scores, "feats": maps, "kpts": kpt}


def batch_of(arrays: dict, name: str) -> dict:
    return {key: torch.from_numpy(arrays[f"{name}/{key}"]) for key in ("cls", "bboxes", "keypoints", "batch_idx")}


def main(npz: str, meta: str, result: str) -> None:
    arrays = dict(np.load(npz))
    cases = json.loads(Path(meta).read_text())
    out, grads = {"_version": ultralytics.__version__}, {}
    for name, case in cases.items():
        model = peer_model(case["peer_model"])
        criterion = v8PoseLoss(model)
        nc = model.model[-1].nc
        maps, kpt, preds = predictions(arrays, name, nc)
        loss, items = criterion(preds, batch_of(arrays, name))
        items = {k: v.detach() for k, v in items.items()}
        loss.sum().backward()
        for i, m in enumerate(maps):
            grads[f"{name}/grad_map{i}"] = m.grad.numpy()
        grads[f"{name}/grad_kpt"] = kpt.grad.numpy()
        _, _, fresh = predictions(arrays, name, nc)
        fg_mask = criterion.get_assigned_targets_and_loss(fresh, batch_of(arrays, name))[0][0]
        order = ("box_loss", "pose_loss", "kobj_loss", "cls_loss", "dfl_loss")
        out[name] = {"loss": float(loss.sum().detach()), "items": [float(items[k]) for k in order],
                     "fg": int(fg_mask.sum()),
                     "sigmas": [float(s) for s in criterion.keypoint_loss.sigmas]}
        print(f"[{name}] ultralytics {ultralytics.__version__}: " +
              ", ".join(f"{k}={float(items[k]):.6f}" for k in order))
    Path(result).write_text(json.dumps(out, indent=1))
    np.savez(Path(result).with_name("ultralytics_grads.npz"), **grads)


if __name__ == "__main__":
    main(*sys.argv[1:4])
