"""Texture baking: rasterize the mesh in UV space, query the field's colour at each texel's
surface point, then dilate across seams so bilinear lookups never read empty texels."""

from collections.abc import Callable

import numpy as np
import scipy.ndimage

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
    tri = p[faces]  # [F, 3, 2]
    lo = np.floor(tri.min(axis=1) - 0.5).astype(np.int64) + 1  # first texel index whose centre may be inside
    hi = np.floor(tri.max(axis=1) - 0.5).astype(np.int64)
    w = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    h = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    counts = w * h
    texels, face_ids, barys = [], [], []
    order = np.arange(faces.shape[0])
    csum = np.cumsum(counts)
    start = 0
    while start < order.shape[0]:
        base = csum[start - 1] if start else 0
        stop = max(int(np.searchsorted(csum, base + max_candidates, side="right")), start + 1)
        f = order[start:stop]
        c = counts[f]
        fid = np.repeat(f, c)
        local = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        ix = lo[fid, 0] + local % np.maximum(w[fid], 1)
        iy = lo[fid, 1] + local // np.maximum(w[fid], 1)
        centre = np.stack([ix + 0.5, iy + 0.5], axis=1)
        a, b, cc = tri[fid, 0], tri[fid, 1], tri[fid, 2]
        v0, v1, v2 = b - a, cc - a, centre - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        ok = np.abs(den) > 1e-12
        den = np.where(ok, den, 1.0)
        l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        l0 = 1.0 - l1 - l2
        inside = ok & (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9) & (iy >= 0) & (iy < size)
        if not wrap_u:
            inside &= (ix >= 0) & (ix < size)
        texels.append(np.stack([iy[inside], ix[inside] % size], axis=1))
        face_ids.append(fid[inside])
        barys.append(np.stack([l0, l1, l2], axis=1)[inside])
        start = stop
    if not texels:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), np.zeros((0, 3))
    return np.concatenate(texels), np.concatenate(face_ids), np.concatenate(barys)


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
