"""Step 1 of the method: face detection, tracking, landmarks, head pose, alignment crop, smoothing.

Entry point: `FacePreprocessor(reference, FaceConfig()).process(frames)` (see `preprocess`).
"""

from .canonical import DEFAULT_CANONICAL, CanonicalFace
from .config import FaceConfig
from .preprocess import FacePreprocessor, FaceResult, NoFaceError

__all__ = ["CanonicalFace", "DEFAULT_CANONICAL", "FaceConfig", "FacePreprocessor", "FaceResult", "NoFaceError"]
