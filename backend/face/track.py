"""Which face to follow: the largest / most central one on the first frame, then the same one.

The tracker keeps the box of the face it follows (updated from that face's landmarks each frame)
and continues with the detection that overlaps it best. It never switches to another face while
its own one is merely missed for a few frames; only after `max_lost` frames without it does it
pick the largest / most central face again.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class FaceBox:
    """An axis-aligned face box in source pixels (continuous coordinates: the image spans 0..W, 0..H)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    """Detector confidence (1 for boxes derived from landmarks)."""

    @property
    def centre(self) -> np.ndarray:
        """Box centre `[2]` (x, y)."""
        return np.array([0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1)])

    @property
    def size(self) -> float:
        """Geometric mean of width and height (pixels)."""
        return math.sqrt(max(self.x1 - self.x0, 0.0) * max(self.y1 - self.y0, 0.0))

    def as_array(self) -> np.ndarray:
        """`[4]` float32: x0, y0, x1, y1."""
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.float32)

    def iou(self, other: "FaceBox") -> float:
        """Intersection over union with another box."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        inter = max(w, 0.0) * max(h, 0.0)
        union = self.size**2 + other.size**2 - inter
        return inter / union if union > 0 else 0.0

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> "FaceBox":
        """Bounding box of landmarks `[N, 2+]` (pixels)."""
        lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
        return cls(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def primary_face(boxes: list[FaceBox], width: int, height: int) -> int | None:
    """Index of the largest / most central box (None for no boxes).

    Score = size / shorter image side x (1 - 0.6 x distance of the centre from the image centre /
    half the diagonal): a face twice as large wins unless it sits in a corner.
    """
    if not boxes:
        return None
    centre = np.array([width / 2.0, height / 2.0])
    half_diag = 0.5 * math.hypot(width, height)
    scores = [
        b.size / min(width, height) * (1.0 - 0.6 * min(float(np.linalg.norm(b.centre - centre)) / half_diag, 1.0))
        for b in boxes
    ]
    return int(np.argmax(scores))


class FaceTracker:
    """Follows one face across frames (see the module docstring)."""

    def __init__(self, min_iou: float = 0.2, max_lost: int = 30):
        self.min_iou, self.max_lost = min_iou, max_lost
        self.reset()

    def reset(self) -> None:
        """Forget the followed face; the next frame picks the largest / most central one."""
        self.box: FaceBox | None = None
        self.lost = 0

    def _continues(self, box: FaceBox) -> float | None:
        """How well `box` continues the followed face (higher is better), None when it does not."""
        assert self.box is not None
        iou = box.iou(self.box)
        dist = float(np.linalg.norm(box.centre - self.box.centre)) / max(self.box.size, 1e-6)
        ratio = box.size / max(self.box.size, 1e-6)
        if iou >= self.min_iou or (dist < 0.5 and 0.6 < ratio < 1.6):
            return iou - dist
        return None

    def match(self, boxes: list[FaceBox], width: int, height: int) -> FaceBox | None:
        """The detection to follow this frame: the best continuation of the followed face, or (with no
        face followed yet) the largest / most central one; None when no detection qualifies."""
        if self.box is None:
            i = primary_face(boxes, width, height)
            return None if i is None else boxes[i]
        scored = [(s, b) for b in boxes if (s := self._continues(b)) is not None]
        return max(scored, key=lambda sb: sb[0])[1] if scored else None

    def update(self, box: FaceBox) -> None:
        """The followed face was found this frame at `box` (from its landmarks)."""
        self.box = box
        self.lost = 0

    def miss(self) -> None:
        """The followed face was not found this frame; after `max_lost` misses it is dropped."""
        self.lost += 1
        if self.lost > self.max_lost:
            self.reset()
