"""Shared real inputs: the astronaut photograph (scikit-image) and her face mesh."""

import cv2
import numpy as np
import pytest
import skimage.data

from backend.face.detect import FaceDetector
from backend.face.pose import build_template


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real portrait, RGB uint8 [512, 512, 3]."""
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut) -> np.ndarray:
    """Her 478 face-mesh landmarks [478, 3] in pixels."""
    with FaceDetector() as detector:
        boxes = detector.detect(astronaut)
        landmarks = detector.landmarks(astronaut, boxes[0])
    assert landmarks is not None
    return landmarks


@pytest.fixture(scope="session")
def template(astronaut_landmarks):
    """Her personalised 3D template in the canonical frame."""
    return build_template(astronaut_landmarks)


def shifted(image: np.ndarray, dx: float, dy: float, angle_deg: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """`image` rotated (degrees, counter-clockwise on screen), scaled about its centre, then moved by (dx, dy)."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def noise_image(seed: int, size=(480, 640)) -> np.ndarray:
    """A face-free image: smooth coloured noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 16, size[1] // 16, 3), dtype=np.uint8)
    return cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
