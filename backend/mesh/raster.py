"""A small CPU triangle rasterizer: coverage with barycentrics, a z-buffer, camera projection and
texture lookup. The UV baker, the projected texture's visibility test, the contact sheet's shaded
mesh and the real-footage evaluation's renders all rasterize through `rasterize_triangles`."""

from dataclasses import dataclass

import numpy as np


def rasterize_triangles(
    points: np.ndarray, faces: np.ndarray, width: int, height: int, wrap_x: bool = False,
    max_candidates: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which triangles cover each pixel centre, and where.

    points `[V, 2]` in pixel units (x right, y down; pixel (r, c) has its centre at (c + 0.5, r + 0.5)),
    faces `[F, 3]`. Returns `(pixel [K, 2], face [K], bary [K, 3])`: every (pixel, covering triangle) pair
    as (row, column), the triangle and its barycentric weights there (several triangles may cover one
    pixel: see `zbuffer`). With `wrap_x` columns wrap around the width instead of being dropped.
    """
    p = np.asarray(points, dtype=np.float64)
    tri = p[faces]  # [F, 3, 2]
    lo = np.floor(tri.min(axis=1) - 0.5).astype(np.int64) + 1  # first pixel whose centre may be inside
    hi = np.floor(tri.max(axis=1) - 0.5).astype(np.int64)
    if not wrap_x:
        lo[:, 0], hi[:, 0] = np.maximum(lo[:, 0], 0), np.minimum(hi[:, 0], width - 1)
    lo[:, 1], hi[:, 1] = np.maximum(lo[:, 1], 0), np.minimum(hi[:, 1], height - 1)
    w = np.maximum(hi[:, 0] - lo[:, 0] + 1, 0)
    h = np.maximum(hi[:, 1] - lo[:, 1] + 1, 0)
    counts = w * h
    csum = np.cumsum(counts)
    pixels, face_ids, barys = [], [], []
    start = 0
    while start < faces.shape[0]:
        base = csum[start - 1] if start else 0
        stop = max(int(np.searchsorted(csum, base + max_candidates, side="right")), start + 1)
        f = np.arange(start, stop)
        c = counts[f]
        fid = np.repeat(f, c)
        local = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        ix = lo[fid, 0] + local % np.maximum(w[fid], 1)
        iy = lo[fid, 1] + local // np.maximum(w[fid], 1)
        a, b, cc = tri[fid, 0], tri[fid, 1], tri[fid, 2]
        v0, v1 = b - a, cc - a
        v2x, v2y = ix + 0.5 - a[:, 0], iy + 0.5 - a[:, 1]
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        ok = np.abs(den) > 1e-12
        den = np.where(ok, den, 1.0)
        l1 = (v2x * v1[:, 1] - v1[:, 0] * v2y) / den
        l2 = (v0[:, 0] * v2y - v2x * v0[:, 1]) / den
        l0 = 1.0 - l1 - l2
        inside = ok & (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
        pixels.append(np.stack([iy[inside], ix[inside] % width], axis=1))
        face_ids.append(fid[inside])
        barys.append(np.stack([l0, l1, l2], axis=1)[inside])
        start = stop
    if not pixels:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), np.zeros((0, 3))
    return np.concatenate(pixels), np.concatenate(face_ids), np.concatenate(barys)


@dataclass
class Raster:
    """What a camera sees of a mesh, per pixel of a `[H, W]` image."""

    face: np.ndarray
    """`[H, W]` int64: the nearest triangle, -1 where the mesh is not seen."""
    bary: np.ndarray
    """`[H, W, 3]` float64 barycentric weights in that triangle (0 where none)."""
    depth: np.ndarray
    """`[H, W]` float64 camera-space depth of the nearest surface (inf where none)."""

    @property
    def mask(self) -> np.ndarray:
        """`[H, W]` bool: pixels that see the mesh."""
        return self.face >= 0


def zbuffer(points: np.ndarray, depth: np.ndarray, faces: np.ndarray, width: int, height: int) -> Raster:
    """The nearest surface per pixel. points `[V, 2]` pixel units (as `rasterize_triangles`), depth `[V]`
    (larger is farther; vertices behind the camera should be dropped by the caller), faces `[F, 3]`."""
    pixel, face, bary = rasterize_triangles(points, faces, width, height)
    out = Raster(np.full((height, width), -1, np.int64), np.zeros((height, width, 3)), np.full((height, width), np.inf))
    if not face.shape[0]:
        return out
    z = np.einsum("kj,kj->k", bary, depth[faces[face]])
    key = pixel[:, 0] * width + pixel[:, 1]
    nearest = np.full(height * width, np.inf)
    np.minimum.at(nearest, key, z)
    win = np.flatnonzero(z <= nearest[key])  # the nearest candidate of each pixel (of equals, the last)
    r, c = pixel[win, 0], pixel[win, 1]
    out.face[r, c], out.bary[r, c], out.depth[r, c] = face[win], bary[win], z[win]
    return out


def project(points: np.ndarray, cam2world: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points `[N, 3]` -> (pixel `[N, 2]` (x right, y down, in the units of `intrinsics` `[3, 3]`),
    depth `[N]`) for an OpenCV camera `cam2world [4, 4]` (x right, y down, z forward)."""
    w2c = np.linalg.inv(np.asarray(cam2world, dtype=np.float64))
    pc = np.asarray(points, dtype=np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    zs = np.where(np.abs(z) > 1e-9, z, 1e-9)
    K = np.asarray(intrinsics, dtype=np.float64)
    x = pc[:, 0] / zs * K[0, 0] + pc[:, 1] / zs * K[0, 1] + K[0, 2]
    y = pc[:, 1] / zs * K[1, 1] + K[1, 2]
    return np.stack([x, y], axis=1), z


def camera_raster(
    vertices: np.ndarray, faces: np.ndarray, cam2world: np.ndarray, intrinsics: np.ndarray, width: int, height: int,
    near: float = 1e-3,
) -> Raster:
    """Z-buffer of a mesh (vertices `[V, 3]`, faces `[F, 3]`) through a camera whose `intrinsics [3, 3]` are
    in pixels of a `width x height` image. Triangles with a corner nearer than `near` are dropped."""
    pix, z = project(vertices, cam2world, intrinsics)
    keep = (z[faces] > near).all(axis=1)
    return zbuffer(pix, z, faces[keep], width, height) if keep.any() else zbuffer(pix, z, faces[:0], width, height)


def sample_bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear lookup of `image [H, W, C]` (any dtype) at pixel positions `xy [N, 2]` (x right, y down,
    pixel centres at +0.5; clamped to the border) -> `[N, C]` float32 in the image's units."""
    h, w = image.shape[:2]
    x = np.clip(xy[:, 0] - 0.5, 0.0, w - 1.0)
    y = np.clip(xy[:, 1] - 0.5, 0.0, h - 1.0)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    img = image.reshape(h, w, -1)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def raster_uv(raster: Raster, faces: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """The texture coordinates `[K, 2]` (OpenGL, u may exceed 1) of the pixels of `raster` that see the mesh,
    in `raster.mask` order; faces `[F, 3]` and uv `[V, 2]` of the rasterized mesh."""
    seen = raster.mask
    return np.einsum("kj,kjd->kd", raster.bary[seen], uv[faces[raster.face[seen]]].astype(np.float64))


def texture_pixels(uv: np.ndarray, size: int) -> np.ndarray:
    """Texture coordinates `[K, 2]` (u repeats) -> pixel positions `[K, 2]` (x right, y down) in a
    `size x size` texture (for `sample_bilinear`)."""
    return np.stack([np.mod(uv[:, 0], 1.0) * size, (1.0 - uv[:, 1]) * size], axis=1)


def shade_textured(
    raster: Raster, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray, background=(0.5, 0.5, 0.5)
) -> np.ndarray:
    """An unlit image `[H, W, 3]` uint8 of what `raster` sees, coloured from `texture [T, T, 3]` uint8 through
    uv `[V, 2]`, `background` (0..1) elsewhere."""
    h, w = raster.face.shape
    image = np.empty((h, w, 3), np.float32)
    image[:] = np.asarray(background, np.float32) * 255.0
    seen = raster.mask
    if seen.any():
        image[seen] = sample_bilinear(texture, texture_pixels(raster_uv(raster, faces, uv), texture.shape[0]))
    return (np.clip(image, 0, 255) + 0.5).astype(np.uint8)


def render_textured(
    vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray, cam2world: np.ndarray,
    intrinsics: np.ndarray, width: int, height: int, background=(0.5, 0.5, 0.5),
) -> tuple[np.ndarray, np.ndarray]:
    """Unlit render of a textured mesh: vertices `[V, 3]`, faces `[F, 3]`, uv `[V, 2]` (OpenGL, u repeats),
    texture `[T, T, 3]` uint8, camera as `camera_raster` -> (`[H, W, 3]` uint8 image, `[H, W]` bool mask)."""
    r = camera_raster(vertices, faces, cam2world, intrinsics, width, height)
    return shade_textured(r, faces, uv, texture, background), r.mask
