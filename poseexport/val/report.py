"""What a validation run returns: box and pose metrics, speed, COCO numbers, notes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.dataset import DatasetReport
from ..metrics.pose_metrics import TaskMetrics
from .coco_eval import CocoReport


@dataclass(frozen=True, eq=False)
class ValMetrics:
    """`box` / `pose`: TaskMetrics (map, map50, map75, maps, mp, mr); `speed`: ms per image."""

    box: TaskMetrics
    pose: TaskMetrics
    speed: dict[str, float]
    images: int
    instances: int
    dataset: DatasetReport
    coco: CocoReport | None = None
    notes: tuple[str, ...] = ()
    files: tuple[Path, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = {"box": self.box.to_dict(), "pose": self.pose.to_dict(), "images": self.images,
               "instances": self.instances, "speed_ms": dict(self.speed)}
        c = self.coco
        if c is not None:
            out["coco_ours"] = {"pose_ap": c.ours_pose.ap, "pose_ap50": c.ours_pose.ap50,
                                "pose_ap75": c.ours_pose.ap75, "box_ap": c.ours_box.ap,
                                "box_ap50": c.ours_box.ap50, "images": c.images}
            if c.official_pose is not None:
                out["coco"] = {"pose_ap": c.official_pose.ap, "pose_ap50": c.official_pose.ap50,
                               "pose_ap75": c.official_pose.ap75, "box_ap": c.official_box.ap,
                               "box_ap50": c.official_box.ap50, "evaluator": c.evaluator}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def table(self) -> str:
        """A text table: rows box / pose; COCO lines when the protocol ran."""
        lines = [f"{'':6}{'images':>8}{'inst':>7}{'P':>8}{'R':>8}{'mAP50':>8}{'mAP75':>8}{'mAP50-95':>10}"]
        for name, m in (("box", self.box), ("pose", self.pose)):
            lines.append(f"{name:6}{self.images:>8}{self.instances:>7}{m.mp:>8.3f}{m.mr:>8.3f}"
                         f"{m.map50:>8.3f}{m.map75:>8.3f}{m.map:>10.3f}")
        c = self.coco
        if c is not None:
            lines.append(f"COCO protocol on {c.json_path.name} ({c.images} images):")
            lines.append(f"  poseexport          pose AP {c.ours_pose.ap:.4f}  AP50 {c.ours_pose.ap50:.4f}"
                         f"  box AP {c.ours_box.ap:.4f}")
            if c.official_pose is not None:
                lines.append(f"  {c.evaluator:<19} pose AP {c.official_pose.ap:.4f}  AP50 "
                             f"{c.official_pose.ap50:.4f}  box AP {c.official_box.ap:.4f}")
        s = self.speed
        lines.append(f"speed (ms/image): preprocess {s['preprocess']:.1f}, inference "
                     f"{s['inference']:.1f}, postprocess {s['postprocess']:.1f}")
        return "\n".join(lines)
