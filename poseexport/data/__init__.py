"""YOLO-pose datasets: the yaml, label files, a scan cache, and COCO converters."""
from .dataset import DatasetReport, PoseDataset, Sample, load_split
from .dataset_yaml import DatasetConfig, load_dataset_yaml, split_sources
from .images import label_path_for, list_images
from .labels import ImageLabels, LabelIssue, parse_label_text

__all__ = [
    "DatasetConfig", "DatasetReport", "ImageLabels", "LabelIssue", "PoseDataset", "Sample",
    "label_path_for", "list_images", "load_dataset_yaml", "load_split", "parse_label_text",
    "split_sources",
]
