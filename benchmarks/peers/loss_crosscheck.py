"""Cross-check poseexport's pose training loss against Ultralytics' `v8PoseLoss`, on the same tensors.

    python benchmarks/peers/loss_crosscheck.py [--out /tmp/loss_crosscheck] [--tol 1e-3]

Our half (this file) builds five cases, computes our loss components and the
gradients with respect to the prediction tensors, and dumps predictions + batch to an
.npz. The peer half (`loss_crosscheck_ultralytics.py`, run in the throw-away
Ultralytics environment named by /work/peers/READY) feeds the very same tensors to
Ultralytics' own loss, built from its own model object. Then every gained component
and every gradient is compared; exit status 1 if any differs by more than `--tol`
(relative; absolute for values below 1e-6).

Cases:
  coco8   the 4 coco8-pose train images letterboxed to 640 (no augmentation), the
          official yolo11n-pose weights (BatchNorm in eval mode, head returning raw maps).
  coco8-train  the same, the whole network in training mode (BatchNorm on batch statistics).
  random  seeded random prediction tensors for nc=1, K=17, D=3 at 640, random labels,
          one image without labels; Ultralytics' model: the same yolo11n-pose.pt.
  tiny    as random, with 10 GTs of 2.5-15 px (widened to the 16 px stride for the
          inside-the-box test) and small predicted boxes: GTs with fewer than top-k
          overlapping candidates.
  multi   seeded random predictions for nc=3, K=5, D=2 at 320; both models built from
          yolo11n-pose.yaml with that layout (every keypoint labelled: for D == 2 we treat
          one at exactly (0, 0) as unlabelled, Ultralytics counts it).
Ultralytics is never imported here (it is not a dependency of poseexport).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from poseexport import PoseModel
from poseexport.data.dataset import load_split
from poseexport.nn.head import make_anchors
from poseexport.paths import shared_data_dir
from poseexport.predict.letterbox import letterbox
from poseexport.predict.sources import read_image
from poseexport.train.box_ops import distances_to_xyxy, expected_distances
from poseexport.train.loss import LOSS_NAMES, PoseLoss

READY = Path("/work/peers/READY")
PEER_SCRIPT = Path(__file__).with_name("loss_crosscheck_ultralytics.py")


def coco8_batch(imgsz: int = 640) -> tuple[torch.Tensor, dict]:
    """The coco8-pose train images letterboxed to imgsz x imgsz, labels mapped into that frame."""
    data = load_split(shared_data_dir() / "coco8-pose" / "coco8-pose.yaml", "train", cache=False,
                      progress=False)
    images, cls, boxes, kpts, index = [], [], [], [], []
    for i, sample in enumerate(data.samples):
        boxed, info = letterbox(read_image(sample.image), imgsz)
        images.append(boxed[..., ::-1].transpose(2, 0, 1))  # BGR HWC -> RGB CHW
        h, w = info.orig_shape
        gain, (pad_x, pad_y) = info.gain, info.pad
        lab = sample.labels
        b = lab.boxes.astype(np.float64).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] * w * gain + [pad_x, 0]) / imgsz
        b[:, [1, 3]] = (b[:, [1, 3]] * h * gain + [pad_y, 0]) / imgsz
        k = lab.keypoints.astype(np.float64).copy()
        k[..., 0] = (k[..., 0] * w * gain + pad_x) / imgsz
        k[..., 1] = (k[..., 1] * h * gain + pad_y) / imgsz
        cls.append(lab.cls.reshape(-1, 1))
        boxes.append(b)
        kpts.append(k)
        index.append(np.full(len(lab), i))
    img = torch.from_numpy(np.ascontiguousarray(np.stack(images)))
    batch = {"img": img, "cls": torch.tensor(np.concatenate(cls), dtype=torch.float32),
             "bboxes": torch.tensor(np.concatenate(boxes), dtype=torch.float32),
             "keypoints": torch.tensor(np.concatenate(kpts), dtype=torch.float32),
             "batch_idx": torch.tensor(np.concatenate(index), dtype=torch.float32)}
    return img, batch


def random_case(seed: int, nc: int, kpt_shape: tuple[int, int], imgsz: int, batch_size: int,
                objects: list[int], sizes: tuple[float, float] = (0.2, 0.6), near_bins: int = 0
                ) -> tuple[tuple[list[torch.Tensor], torch.Tensor], dict]:
    """Seeded random head outputs and labels; `objects[i]` labels in image i (0 allowed).

    Box sides are drawn from `sizes` (fractions of imgsz). `near_bins` > 0 shifts the
    box logits towards the first bins (small predicted boxes, so tiny GTs overlap them).
    """
    g = torch.Generator().manual_seed(seed)
    k, d = kpt_shape
    maps = [torch.randn(batch_size, 64 + nc, imgsz // s, imgsz // s, generator=g) * 2 for s in (8, 16, 32)]
    if near_bins:
        for m in maps:
            m[:, :64].view(batch_size, 4, 16, *m.shape[2:])[:, :, :near_bins] += 6.0
    kpt = torch.randn(batch_size, k * d, sum(m.shape[2] * m.shape[3] for m in maps), generator=g)
    n = sum(objects)
    centre = torch.rand(n, 2, generator=g) * 0.6 + 0.2
    size = torch.rand(n, 2, generator=g) * (sizes[1] - sizes[0]) + sizes[0]
    boxes = torch.cat((centre, size), 1)
    offsets = (torch.rand(n, k, 2, generator=g) - 0.5) * size.unsqueeze(1)
    kp = centre.unsqueeze(1) + offsets
    if d == 3:
        vis = torch.randint(0, 3, (n, k, 1), generator=g).float()  # 0 unlabelled, 1 occluded, 2 visible
        kp = torch.cat((kp * (vis > 0), vis), -1)
    # D == 2: every keypoint labelled (we treat one at exactly (0, 0) as unlabelled, Ultralytics does not)
    batch = {"cls": torch.randint(0, nc, (n, 1), generator=g).float(), "bboxes": boxes, "keypoints": kp,
             "batch_idx": torch.cat([torch.full((c,), float(i)) for i, c in enumerate(objects)])}
    return (maps, kpt), batch


def ours(name: str, head, preds, batch: dict, out: dict) -> dict:
    """Our gained components, assignment size and gradients; arrays go into `out` under `name/`."""
    maps = [m.detach().clone().requires_grad_(True) for m in preds[0]]
    kpt = preds[1].detach().clone().requires_grad_(True)
    criterion = PoseLoss(head)
    loss, items = criterion((maps, kpt), batch)
    loss.backward()
    _, assignment = criterion.components((maps, kpt), batch)
    for i, m in enumerate(maps):
        out[f"{name}/map{i}"] = m.detach().numpy()
        out[f"{name}/grad_map{i}"] = m.grad.numpy()
    out[f"{name}/kpt"] = kpt.detach().numpy()
    out[f"{name}/grad_kpt"] = kpt.grad.numpy()
    for key in ("cls", "bboxes", "keypoints", "batch_idx"):
        out[f"{name}/{key}"] = batch[key].numpy()
    return {"loss": float(loss.detach()), "items": [float(v) for v in items],
            "fg": int(assignment.fg_mask.sum()), "target_score_sum": float(assignment.target_scores.sum()),
            "tied_gts": tied_gts(criterion, (maps, kpt), batch)}


def tied_gts(criterion: PoseLoss, preds, batch: dict) -> int:
    """GTs with fewer than top-k candidates of positive metric but some of metric 0.

    That is where implementations can differ (which zero-metric anchors, if any, become
    positives); we take none of them. A case with such GTs shows that Ultralytics, in
    practice, does the same.
    """
    maps, _ = preds
    b = maps[0].shape[0]
    strides = criterion.strides
    flat = torch.cat([m.detach().reshape(b, m.shape[1], -1) for m in maps], 2).permute(0, 2, 1)
    dist, cls = flat.split((64, criterion.nc), -1)
    anchors, anchor_strides = make_anchors(maps, strides, 0.5)
    imgsz = torch.tensor(maps[0].shape[2:], dtype=torch.float32) * strides[0]
    t = criterion.targets(batch, b, imgsz)
    boxes = distances_to_xyxy(expected_distances(dist, 16), anchors) * anchor_strides
    assigner = criterion.assigner
    candidate = assigner._inside(anchors * anchor_strides, t.boxes) & t.valid.unsqueeze(-1)
    _, metric = assigner._metrics(cls.sigmoid(), boxes, t.labels, t.boxes, candidate)
    positive = ((metric > 0) & candidate).sum(-1)
    zero = ((metric == 0) & candidate).sum(-1)
    return int(((positive < assigner.topk) & (zero > 0) & t.valid).sum())


def build_cases(out: dict) -> dict:
    cases = {}
    torch.manual_seed(0)
    weights = shared_data_dir() / "weights" / "yolo11n-pose.pt"
    model = PoseModel(str(weights))
    net = model.net.eval()
    net.head.training = True  # raw maps from the head; BatchNorm keeps its running statistics
    img, batch = coco8_batch()
    with torch.no_grad():
        preds = net(img.float() / 255)
    cases["coco8"] = {"peer_model": {"weights": str(weights)}, "objects": len(batch["cls"]),
                      **ours("coco8", net.head, preds, batch, out)}
    net.train()
    with torch.no_grad():
        preds = net(img.float() / 255)
    cases["coco8-train"] = {"peer_model": {"weights": str(weights)}, "objects": len(batch["cls"]),
                            **ours("coco8-train", net.head, preds, batch, out)}

    preds, batch = random_case(1, 1, (17, 3), 640, 3, [4, 0, 7])
    cases["random"] = {"peer_model": {"weights": str(weights)}, "objects": 11,
                       **ours("random", net.head, preds, batch, out)}

    preds, batch = random_case(3, 1, (17, 3), 640, 2, [5, 5], sizes=(0.004, 0.024), near_bins=2)
    cases["tiny"] = {"peer_model": {"weights": str(weights)}, "objects": 10,
                     **ours("tiny", net.head, preds, batch, out)}

    small = PoseModel("yolo11n-pose.yaml", nc=3, kpt_shape=(5, 2)).net
    preds, batch = random_case(2, 3, (5, 2), 320, 2, [6, 3])
    cases["multi"] = {"peer_model": {"yaml": "yolo11n-pose.yaml", "nc": 3, "kpt_shape": [5, 2]},
                      "objects": 9, **ours("multi", small.head, preds, batch, out)}
    return cases


def run_peer(npz: Path, meta: Path, result: Path) -> None:
    if not READY.exists():
        sys.exit(f"{READY} does not exist: the Ultralytics peer environment is not ready")
    facts = dict(line.split("=", 1) for line in READY.read_text().splitlines()
                 if line and not line.startswith("#"))
    env = dict(os.environ)
    for pair in shlex.split(facts.get("ENV", "").strip().strip('"')):
        key, value = pair.split("=", 1)
        env[key] = value
    subprocess.run([facts["PYTHON"].strip(), str(PEER_SCRIPT), str(npz), str(meta), str(result)],
                   env=env, check=True)


def relative(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale < 1e-6 else abs(a - b) / scale


def compare(cases: dict, theirs: dict, npz: dict, peer_npz: dict, tol: float) -> bool:
    ok = True
    for name, case in cases.items():
        other = theirs[name]
        print(f"\n[{name}] {case['objects']} objects ({case['tied_gts']} with zero-metric ties), "
              f"positives ours {case['fg']} / theirs {other['fg']}")
        print(f"  {'component':10s} {'ours':>14s} {'ultralytics':>14s} {'rel diff':>10s}")
        rows = list(zip(LOSS_NAMES, case["items"], other["items"])) + [("total", case["loss"], other["loss"])]
        for label, a, b in rows:
            rel = relative(a, b)
            ok &= rel <= tol
            print(f"  {label:10s} {a:14.8f} {b:14.8f} {rel:10.2e}{'' if rel <= tol else '  FAIL'}")
        for key in sorted(k for k in npz if k.startswith(f"{name}/grad_")):
            ours_g, their_g = npz[key], peer_npz[key]
            rel = float(np.linalg.norm(ours_g - their_g) / max(np.linalg.norm(their_g), 1e-12))
            ok &= rel <= tol
            print(f"  d loss / d {key.split('/grad_')[1]:6s} |ours-theirs|/|theirs| = {rel:.2e}"
                  f"{'' if rel <= tol else '  FAIL'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/loss_crosscheck"), help="working folder")
    parser.add_argument("--tol", type=float, default=1e-3, help="relative tolerance per component")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    cases = build_cases(arrays)
    npz, meta, result = args.out / "cases.npz", args.out / "cases.json", args.out / "ultralytics.json"
    np.savez(npz, **arrays)
    meta.write_text(json.dumps(cases, indent=1))
    run_peer(npz, meta, result)
    theirs = json.loads(result.read_text())
    peer_npz = dict(np.load(args.out / "ultralytics_grads.npz"))
    ok = compare(cases, theirs, arrays, peer_npz, args.tol)
    print(f"\n{'AGREE' if ok else 'DISAGREE'} within {args.tol:g} relative "
          f"(ultralytics {theirs.get('_version', '?')})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
