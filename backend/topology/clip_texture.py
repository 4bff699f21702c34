"""One texture for a tracked clip: in the template's fixed UVs a texel is the same spot of the head on every
frame, so the frames' textures can be fused texel by texel. Each texel is the mean of the frames' colours
weighted by how well each frame saw it (the projected texture's frame weight; 1 for the field's colour),
with a small weight for what the frame's texture filled in where it did not see (the reference's or the
field's colour), so a texel no frame saw still has a colour."""

import numpy as np

FILL_WEIGHT = 0.02
"""Weight of a frame's texel that the frame itself did not see (its fill)."""


class ClipTexture:
    """`add(texture, seen) -> texture`: the fusion of the clip's textures so far, `[T, T, 3]` uint8."""

    def __init__(self):
        self._sum: np.ndarray | None = None  # [T, T, 3] float64, weighted colours
        self._weight: np.ndarray | None = None  # [T, T] float64
        self.frames = 0
        """Textures fused so far."""

    def add(self, texture: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
        """Fuse one frame's `texture [T, T, 3]` uint8, `seen [T, T]` in 0..1 (how well the frame saw each texel;
        None: all of it, as for the field's colour). A texture of another size starts the fusion again."""
        w = np.ones(texture.shape[:2]) if seen is None else np.asarray(seen, np.float64)
        w = FILL_WEIGHT + (1.0 - FILL_WEIGHT) * np.clip(w, 0.0, 1.0)
        if self._sum is None or self._sum.shape != texture.shape:
            self._sum, self._weight, self.frames = np.zeros(texture.shape), np.zeros(texture.shape[:2]), 0
        self._sum += w[..., None] * texture
        self._weight += w
        self.frames += 1
        return (self._sum / self._weight[..., None] + 0.5).clip(0, 255).astype(np.uint8)
