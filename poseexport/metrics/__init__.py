"""Detection and keypoint metrics: IoU / OKS matching, AP, YOLO-style and COCO-protocol summaries."""
from .ap import ClassAP, ap_per_class, interpolated_ap, precision_envelope
from .coco_protocol import CocoAP, coco_protocol_ap
from .matching import (
    COCO_KPT_SIGMAS,
    IOU_THRESHOLDS,
    OKS_AREA_FACTOR,
    box_iou,
    default_sigmas,
    keypoint_oks,
    match_predictions,
)
from .pose_metrics import TaskMetrics

__all__ = [
    "COCO_KPT_SIGMAS",
    "IOU_THRESHOLDS",
    "OKS_AREA_FACTOR",
    "ClassAP",
    "CocoAP",
    "TaskMetrics",
    "ap_per_class",
    "box_iou",
    "coco_protocol_ap",
    "default_sigmas",
    "interpolated_ap",
    "keypoint_oks",
    "match_predictions",
    "precision_envelope",
]
