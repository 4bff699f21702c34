"""One texture for a tracked clip: in the template's fixed UVs a texel is the same spot of the head on every
frame, so the frames' textures can be fused texel by texel. Each texel is the mean of the frames' own
colours there weighted by how well each frame saw it (the projected texture's frame weight; 1 for the
field's colour), with a small weight for the latest fill (the reference's or the field's colour where the
frame did not see), so a texel no frame saw still has a colour, and one every frame saw a little converges
to what the frames saw."""

import numpy as np

FILL_WEIGHT = 0.02
"""Weight of the latest fill in a texel (against the frames' weights, each up to 1)."""


class ClipTexture:
    """`add(texture, seen) -> texture`: the fusion of the clip's textures so far, `[T, T, 3]` uint8."""

    def __init__(self):
        self._sum: np.ndarray | None = None  # [T, T, 3] float64, weighted colours (0..1)
        self._weight: np.ndarray | None = None  # [T, T] float64

    def add(self, texture: np.ndarray, seen: np.ndarray | None = None, colour: np.ndarray | None = None,
            fill: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """Fuse one frame's `texture [T, T, 3]` uint8 as made; `seen [T, T]` in 0..1: how much of each texel
        came from the frame itself, `colour [T, T, 3]` in 0..1 the frame's own colours and `fill [T, T, 3]` in
        0..1 what the texture took where the frame did not see (None: the texture is all the frame's, as
        the field's colour is). A texture of another size starts the fusion again."""
        if seen is None:
            seen, colour = np.ones(texture.shape[:2]), texture / 255.0
            fill = colour
        if self._sum is None or self._sum.shape != texture.shape:
            self._sum, self._weight = np.zeros(texture.shape), np.zeros(texture.shape[:2])
        w = np.clip(np.asarray(seen, np.float64), 0.0, 1.0)
        self._sum += w[..., None] * colour
        self._weight += w
        fused = (self._sum + FILL_WEIGHT * np.asarray(fill)) / (self._weight + FILL_WEIGHT)[..., None]
        return (fused * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
