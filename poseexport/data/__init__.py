"""YOLO-pose datasets: the yaml, label files, a scan cache, and COCO converters."""
from .coco_convert import ConvertReport, coco_results, coco_to_yolo, yolo_label_lines
from .dataset import DatasetReport, PoseDataset, Sample, load_split
from .dataset_yaml import DatasetConfig, load_dataset_yaml, split_sources
from .images import label_path_for, list_images
from .labels import ImageLabels, LabelIssue, parse_label_text

__all__ = [
    "ConvertReport",
    "DatasetConfig",
    "DatasetReport",
    "ImageLabels",
    "LabelIssue",
    "PoseDataset",
    "Sample",
    "coco_results",
    "coco_to_yolo",
    "label_path_for",
    "list_images",
    "load_dataset_yaml",
    "load_split",
    "parse_label_text",
    "split_sources",
    "yolo_label_lines",
]
