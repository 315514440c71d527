"""A video source is predicted frame by frame and written back as an annotated video."""
from __future__ import annotations

import cv2
import numpy as np

from poseexport import PoseModel
from poseexport.predict.writer import AnnotatedWriter


def test_video_frames_predicted_and_written(tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(4):
        writer.write(np.full((64, 96, 3), 40 * i, np.uint8))
    writer.release()

    model = PoseModel("posenet-test")
    results = model.predict(str(video), imgsz=64)
    assert [r.path for r in results] == [f"{video}#frame{i}" for i in range(4)]
    assert all(r.orig_img.shape == (64, 96, 3) for r in results)

    out = AnnotatedWriter(tmp_path / "out")
    for r in results:
        out.add(r)
    out.close()
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    cap.release()
