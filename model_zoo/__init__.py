"""Architecture configs (YOLO11-pose, YOLOv8-pose) and model cards of known checkpoints."""
