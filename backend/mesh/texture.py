"""Texture baking: rasterize the mesh in UV space, query the field's colour at each texel's
surface point, then dilate across seams so bilinear lookups never read empty texels."""

from collections.abc import Callable

import numpy as np
import scipy.ndimage

from backend.mesh.raster import rasterize_triangles

ColourFn = Callable[[np.ndarray], np.ndarray]  # points [N, 3] -> colours [N, 3] float in 0..1


def rasterize_uv(
    uv: np.ndarray, faces: np.ndarray, size: int, max_candidates: int = 4_000_000, wrap_u: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which triangle covers each texel centre, and where.

    uv `[V, 2]` (OpenGL: v up; u may exceed 1 and wraps), faces `[F, 3]`, texture `size`.
    Returns `(texel [K, 2], face [K], bary [K, 3])`: each covered texel as (row, column), the
    column wrapped into the texture (or, with `wrap_u=False`, texels outside it dropped), the face
    that covers it and the barycentric weights there.
    """
    p = np.stack([uv[:, 0] * size, (1.0 - uv[:, 1]) * size], axis=1).astype(np.float64)  # texel space
    return rasterize_triangles(p, faces, size, size, wrap_x=wrap_u, max_candidates=max_candidates)


def dilate_texture(image: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Fill every empty texel `[H, W]` with the colour of the nearest filled one (seam dilation)."""
    if filled.all() or not filled.any():
        return image
    _, (iy, ix) = scipy.ndimage.distance_transform_edt(~filled, return_indices=True)
    return image[iy, ix]


def bake_texture(
    vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, colour_fn: ColourFn, size: int
) -> tuple[np.ndarray, float]:
    """Bake the field's colour into a `[size, size, 3]` uint8 texture.

    vertices `[V, 3]` in the field's coordinates (box units), faces `[F, 3]`, uv `[V, 2]`.
    `colour_fn(points [N, 3]) -> [N, 3]` in 0..1. Returns the texture and the fraction of texels
    covered by the mesh before dilation.
    """
    texel, face, bary = rasterize_uv(uv, faces, size)
    image = np.zeros((size, size, 3), dtype=np.float32)
    filled = np.zeros((size, size), dtype=bool)
    if texel.shape[0]:
        points = np.einsum("kj,kjd->kd", bary, vertices[faces[face]].astype(np.float64)).astype(np.float32)
        image[texel[:, 0], texel[:, 1]] = colour_fn(points)
        filled[texel[:, 0], texel[:, 1]] = True
    image = dilate_texture(image, filled)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), float(filled.mean())
