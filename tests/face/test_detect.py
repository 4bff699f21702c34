"""Real MediaPipe detection and face mesh on a real photograph."""

import cv2
import numpy as np
import pytest

from backend.face.detect import FaceDetector
from backend.face.track import FaceBox

from .conftest import noise_image


def test_astronaut_face_and_landmarks(astronaut, astronaut_landmarks):
    with FaceDetector() as detector:
        boxes = detector.detect(astronaut)
    assert len(boxes) == 1
    box = boxes[0]
    assert box.score > 0.8
    assert 150 < box.centre[0] < 300 and 80 < box.centre[1] < 200  # her face, upper middle of the photo
    lm = astronaut_landmarks
    assert lm.shape == (478, 3) and lm.dtype == np.float32
    grown = FaceBox(box.x0 - 0.1 * box.size, box.y0 - 0.25 * box.size, box.x1 + 0.1 * box.size, box.y1 + 0.1 * box.size)
    inside = (lm[:, 0] > grown.x0) & (lm[:, 0] < grown.x1) & (lm[:, 1] > grown.y0) & (lm[:, 1] < grown.y1)
    assert inside.mean() > 0.97
    eyes_y = lm[[33, 133, 263, 362], 1].mean()
    nose_y = lm[1, 1]
    mouth_y = lm[[13, 14], 1].mean()
    chin_y = lm[152, 1]
    assert eyes_y < nose_y < mouth_y < chin_y
    assert lm[33, 0] < lm[133, 0] < lm[362, 0] < lm[263, 0]  # her right eye on the image left
    assert lm[1, 2] < lm[234, 2]  # the nose tip is nearer the camera than the cheek's edge
    for iris, corners in ((468, [33, 133]), (473, [263, 362])):
        assert np.linalg.norm(lm[iris, :2] - lm[corners, :2].mean(0)) < 0.1 * box.size


def test_small_far_face_is_found(astronaut):
    canvas = np.full((480, 640, 3), 90, np.uint8)
    small = cv2.resize(astronaut, (200, 200), interpolation=cv2.INTER_AREA)  # face ~37 px wide
    canvas[200:400, 380:580] = small
    with FaceDetector() as detector:
        boxes = detector.detect(canvas)  # too small for the short-range model: the full-range one finds it
        assert len(boxes) == 1
        box = boxes[0]
        assert 440 < box.centre[0] < 500 and 220 < box.centre[1] < 280
        lm = detector.landmarks(canvas, box)
    assert lm is not None and np.all(np.abs(lm[:, :2].mean(0) - box.centre) < 0.3 * box.size)


def test_no_face_and_bad_input():
    with FaceDetector() as detector:
        assert detector.detect(noise_image(1)) == []
        with pytest.raises(ValueError, match="RGB uint8"):
            detector.detect(np.zeros((32, 32), np.uint8))
    detector.close()  # a second close is harmless
