"""Shot cuts from a change of content: each frame's thumbnail against the last one's.

A cut is a frame whose thumbnail differs from the previous frame's by more than `min_change` (mean
absolute difference, 0..1) and by more than `ratio` times the typical change of the shot so far (the
median of its recent frame-to-frame changes, at least `least_typical`), so a camera move or a fast head
turn inside a shot is not one and a hard cut between two shots of the same room still is.
"""

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

THUMB = (48, 27)
"""Thumbnail size (width, height) the change is measured on."""


@dataclass
class Shot:
    """A run of frames between cuts."""

    number: int
    """0 for the first shot of the clip, then 1, 2, ..."""
    first: int
    """Source index of its first frame."""
    last: int
    """Source index of its last frame so far."""


class ShotDetector:
    """Feed frames in order (`update`); it says which ones start a new shot."""

    def __init__(self, min_change: float = 0.12, ratio: float = 2.5, history: int = 12, least_typical: float = 0.06):
        self.min_change, self.ratio, self.least_typical = min_change, ratio, least_typical
        self._changes: deque[float] = deque(maxlen=history)
        self._last: np.ndarray | None = None
        self.shot: Shot | None = None

    def _thumb(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    def update(self, image: np.ndarray, index: int) -> bool:
        """RGB uint8 frame `[H, W, 3]` with source index `index` -> True when it starts a new shot (the
        first frame starts shot 0). `shot` is then the current shot."""
        thumb = self._thumb(image)
        cut = self._last is None
        if not cut:
            change = float(np.abs(thumb - self._last).mean())
            typical = max(float(np.median(self._changes)) if self._changes else 0.0, self.least_typical)
            cut = change > self.min_change and change > self.ratio * typical
            if cut:
                self._changes.clear()
            else:
                self._changes.append(change)
        self._last = thumb
        if cut:
            self.shot = Shot(0 if self.shot is None else self.shot.number + 1, index, index)
        else:
            self.shot.last = index
        return cut

    def reset(self) -> None:
        """Start afresh: the next frame starts shot 0."""
        self._changes.clear()
        self._last, self.shot = None, None
