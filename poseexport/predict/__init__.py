"""Prediction pre/post-processing in numpy, shared by every runtime."""
from ..keypoints import COCO_SKELETON, COCO_SKELETON_1BASED
from .draw import draw_detections
from .letterbox import LetterboxInfo, letterbox, preprocess
from .nms import box_iou, non_max_suppression
from .results import Boxes, Keypoints, Results, postprocess
from .scale import scale_boxes, scale_keypoints
from .sources import Frame, iter_sources, read_image

__all__ = [
    "COCO_SKELETON", "COCO_SKELETON_1BASED", "Boxes", "Frame", "Keypoints", "LetterboxInfo",
    "Results", "box_iou", "draw_detections", "iter_sources", "letterbox", "non_max_suppression",
    "postprocess", "preprocess", "read_image", "scale_boxes", "scale_keypoints",
]
