"""The output specs of a host-decode artifact: three raw maps per level, each described.

Per level (stride 8, 16, 32 for the standard head), in this order:
- `box_distribution` (B, 4 * reg_max, H, W): logits of reg_max distance bins for left, top,
  right, bottom (channel side * reg_max + bin), in units of the level's stride;
- `class_logits` (B, nc, H, W): pre-sigmoid class scores;
- `keypoint_offsets` (B, K * 2, H, W): per keypoint dx, dy (offset from the anchor cell in
  strides, halved);
- `keypoint_visibility` (B, K, H, W), when D == 3: per keypoint the pre-sigmoid visibility —
  a tensor of its own, so that an int8 artifact quantises offsets and logits each with its own
  scale (artifacts of poseexport 0.1 before this split carry K * 3 channels in keypoint_offsets;
  the decoder still reads them).
"""
from __future__ import annotations

from poseexport.metadata import OutputSpec

MEANINGS = ("box_distribution", "class_logits", "keypoint_offsets", "keypoint_visibility")
REQUIRED = MEANINGS[:3]  # visibility only when D == 3
SIDES = ("left", "top", "right", "bottom")


def head_output_specs(strides: list[int], imgsz: tuple, batch, nc: int, kpt_shape: tuple[int, int],
                      names: dict[int, str], keypoint_names: tuple[str, ...], reg_max: int,
                      dynamic: bool) -> tuple[OutputSpec, ...]:
    k, d = kpt_shape
    box = tuple(f"{side}.bin{j}" for side in SIDES for j in range(reg_max))
    cls = tuple(f"logit:{names.get(i, i)}" for i in range(nc))
    labels = [keypoint_names[j] if j < len(keypoint_names) else f"kpt{j}" for j in range(k)]
    kpt = tuple(f"{label}.{axis}" for label in labels for axis in ("dx", "dy"))
    maps = [("box_distribution", box, "box"), ("class_logits", cls, "cls"), ("keypoint_offsets", kpt, "kpt")]
    if d == 3:
        maps.append(("keypoint_visibility", tuple(f"{label}.visibility_logit" for label in labels), "vis"))
    specs = []
    for s in strides:
        hw = (f"height/{s}", f"width/{s}") if dynamic else (imgsz[0] // s, imgsz[1] // s)
        for meaning, channels, short in maps:
            specs.append(OutputSpec(name=f"p{s}_{short}", shape=(batch, len(channels), *hw), kind="head",
                                    channels=channels, coordinates="strides", layout="NCHW",
                                    meaning=meaning, stride=int(s)))
    return tuple(specs)
