"""Training: YOLO pose data pipeline, loss, optimisation and the training loop."""
