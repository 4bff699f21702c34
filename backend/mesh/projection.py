"""Projected textures: a fusion in texture space of the frame, the reference image and the field.

Every texel of the (fixed, head-centred) UV layout takes its colour from

1. the frame's own pixels, read at full size, where the plate camera sees its surface point: not hidden
   behind the mesh (a z-buffer test), not a back face, not at a grazing angle, weighted by how squarely
   the surface faces the camera;
2. the reference image's pixels where the reference camera sees it and the frame does not, after a
   per-channel gain fitted where both see the surface, so the fill matches the frame's exposure;
3. the field's colour (the mesh's vertex colours) where neither does.

Each view's weight ramps to zero over a feather width towards the edge of what it sees, so seams between
sources do not show. `TextureBlender` carries the blend weights and gains from frame to frame and smooths
them, so the texture does not flicker where the head does not change.
"""

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from backend.mesh.raster import camera_raster, project, sample_bilinear
from backend.mesh.texture import dilate_texture, rasterize_uv


class TextureInputError(ValueError):
    """An image whose size does not match its camera (one line naming the image)."""


@dataclass
class PhotoView:
    """A photograph of the head and the camera it was solved with."""

    image: np.ndarray
    """RGB `[H, W, 3]` uint8 at full size."""
    cam2world: np.ndarray
    """`[4, 4]` camera in the mesh's frame (box units, OpenCV axes: x right, y down, z forward)."""
    intrinsics: np.ndarray
    """`[3, 3]` in pixels of `image`."""
    name: str
    """What to call it in messages: `frame 12 of clip.mp4`, `the reference image`."""

    def check(self) -> "PhotoView":
        """Raise `TextureInputError` when the image cannot be the one the camera was solved for (its
        principal point must lie in the middle half of the image)."""
        h, w = self.image.shape[:2]
        cx, cy = float(self.intrinsics[0, 2]), float(self.intrinsics[1, 2])
        if not (0.25 * w <= cx <= 0.75 * w and 0.25 * h <= cy <= 0.75 * h):
            raise TextureInputError(
                f"{self.name}: the image is {w}x{h} but its camera was solved for about "
                f"{2 * cx:.0f}x{2 * cy:.0f} (principal point {cx:.0f}, {cy:.0f}); expected the image it was solved at"
            )
        return self


@dataclass
class ProjectionConfig:
    """How views are weighted and blended."""

    grazing_deg: float = 75.0
    """Surfaces seen more than this far from their normal take no colour from a view."""
    full_weight_deg: float = 45.0
    """Surfaces seen within this angle of their normal take full weight (between the two it ramps)."""
    strictness: float = 1.0
    """Exponent on the facing weight: higher prefers squarely facing surface more (angle strictness)."""
    feather: float = 0.02
    """Width of the blend ramp at the edge of what a view sees, as a fraction of the texture side."""
    zbuffer_side: int = 384
    """Longest side of each view's visibility z-buffer, laid over the head's box in that view."""
    depth_tolerance: float = 0.015
    """A surface point is visible when it is at most this much (box units) behind the z-buffer."""
    smoothing: float = 0.5
    """Weight of the new frame when blend weights and gains are smoothed over time (1: no smoothing)."""
    min_overlap: int = 400
    """Texels both the frame and the reference must see before a gain is fitted."""
    gain_limits: tuple[float, float] = (0.5, 2.0)
    """Per-channel gains of the reference are kept in this range."""


def view_weights(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, normals: np.ndarray, view: PhotoView,
    cfg: ProjectionConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """How much each surface point may take its colour from `view`, and where it falls in the image.

    vertices `[V, 3]`, faces `[F, 3]` (box units: the occluders), points `[K, 3]` and unit normals `[K, 3]`
    of the texels. Returns `(weight [K]` in 0..1, `xy [K, 2]` pixel positions in `view.image`).
    """
    h, w = view.image.shape[:2]
    pix, _ = project(vertices, view.cam2world, view.intrinsics)
    lo = np.clip(pix.min(axis=0), 0, [w, h])
    hi = np.clip(pix.max(axis=0), 0, [w, h])
    xy, z = project(points, view.cam2world, view.intrinsics)
    if (hi - lo).min() < 1.0:
        return np.zeros(points.shape[0], np.float32), xy
    scale = cfg.zbuffer_side / float((hi - lo).max())
    zw, zh = int(np.ceil((hi[0] - lo[0]) * scale)), int(np.ceil((hi[1] - lo[1]) * scale))
    to_z = np.array([[scale, 0, -lo[0] * scale], [0, scale, -lo[1] * scale], [0, 0, 1]])
    raster = camera_raster(vertices, faces, view.cam2world, to_z @ view.intrinsics, zw, zh)
    nearest = scipy.ndimage.minimum_filter(raster.depth, size=3, mode="nearest")  # conservative at depth edges
    zx = np.clip(((xy[:, 0] - lo[0]) * scale).astype(np.int64), 0, zw - 1)
    zy = np.clip(((xy[:, 1] - lo[1]) * scale).astype(np.int64), 0, zh - 1)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h) & (z > 0)
    visible = inside & (z <= nearest[zy, zx] + cfg.depth_tolerance)
    centre = np.asarray(view.cam2world, dtype=np.float64)[:3, 3]
    to_cam = centre - points
    cos = np.einsum("kd,kd->k", normals, to_cam) / np.maximum(np.linalg.norm(to_cam, axis=1), 1e-9)
    c0, c1 = np.cos(np.radians(cfg.grazing_deg)), np.cos(np.radians(cfg.full_weight_deg))
    facing = np.clip((cos - c0) / max(c1 - c0, 1e-6), 0.0, 1.0) ** cfg.strictness
    return np.where(visible, facing, 0.0).astype(np.float32), xy


def feathered(weight: np.ndarray, covered: np.ndarray, width: float) -> np.ndarray:
    """Ramp a texel weight map `[T, T]` to zero over `width` texels towards the texels it does not see
    (texels the mesh does not cover, `covered [T, T]` False, do not count as edges)."""
    if width <= 0 or not (weight > 0).any():
        return weight
    inside = (weight > 0) | ~covered
    if inside.all():
        return weight
    ramp = np.clip(scipy.ndimage.distance_transform_edt(inside) / width, 0.0, 1.0)
    return (weight * ramp).astype(np.float32)


class TextureBlender:
    """The projected texture of each frame of one clip, in order (state: smoothed weights and gains)."""

    def __init__(self, reference: PhotoView | None, cfg: ProjectionConfig | None = None):
        """`reference`: the reference image and its solved camera (None: no reference fill)."""
        self.cfg = cfg or ProjectionConfig()
        self.reference = reference.check() if reference is not None else None
        self.gain = np.ones(3, np.float32)
        self._weights: dict[str, np.ndarray] = {}
        self._last_frame: tuple[np.ndarray, np.ndarray] | None = None  # (colour [T,T,3], weight [T,T])
        self.info: dict = {}
        """The make-up of the last texture (see `texture`)."""

    def texturer(self, frame: PhotoView | None):
        """The `mesh.build.Texturer` of one frame: `texture` with `frame`, its make-up kept in `info`."""

        def make(vertices, faces, uv, normals, colours, size):
            texture, self.info = self.texture(vertices, faces, uv, normals, colours, size, frame)
            return texture

        return make

    def _smooth(self, name: str, weight: np.ndarray) -> np.ndarray:
        prev = self._weights.get(name)
        s = self.cfg.smoothing
        out = weight if prev is None or prev.shape != weight.shape else s * weight + (1 - s) * prev
        out = np.where(weight > 0, out, 0.0).astype(np.float32)  # never paint from a view that does not see
        self._weights[name] = out
        return out

    def texture(
        self, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, normals: np.ndarray, colours: np.ndarray,
        size: int, frame: PhotoView | None,
    ) -> tuple[np.ndarray, dict]:
        """The `[size, size, 3]` uint8 texture of one frame and its make-up.

        vertices `[V, 3]` (box units, the frame of the views' cameras), faces `[F, 3]`, uv `[V, 2]`, unit
        vertex normals `[V, 3]`, field colours `[V, 3]` in 0..1. `frame`: the frame's photograph, or None for
        a frame whose face was not seen (a held frame: the last frame's colours are kept). Returns the
        texture and `{"frame", "reference", "field"}`: the share of covered texels each source coloured,
        and `"gain"`: the reference's per-channel gain.
        """
        cfg = self.cfg
        texel, face, bary = rasterize_uv(uv, faces, size)
        covered = np.zeros((size, size), bool)
        covered[texel[:, 0], texel[:, 1]] = True
        corners = faces[face]
        points = np.einsum("kj,kjd->kd", bary, vertices[corners].astype(np.float64))
        n = np.einsum("kj,kjd->kd", bary, normals[corners].astype(np.float64))
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
        field = np.einsum("kj,kjd->kd", bary, colours[corners].astype(np.float64)).astype(np.float32)
        feather = cfg.feather * size

        def layer(view: PhotoView, name: str) -> tuple[np.ndarray, np.ndarray]:
            weight, xy = view_weights(vertices, faces, points, n, view, cfg)
            grid = np.zeros((size, size), np.float32)
            grid[texel[:, 0], texel[:, 1]] = weight
            grid = self._smooth(name, feathered(grid, covered, feather))
            weight = grid[texel[:, 0], texel[:, 1]]
            colour = field.copy()
            seen = weight > 0
            colour[seen] = sample_bilinear(view.image, xy[seen]) / 255.0  # full-size pixels
            return weight, colour

        if frame is not None:
            w_f, c_f = layer(frame.check(), "frame")
            full = np.zeros((size, size, 3), np.float32)
            full[texel[:, 0], texel[:, 1]] = c_f
            wmap = np.zeros((size, size), np.float32)
            wmap[texel[:, 0], texel[:, 1]] = w_f
            self._last_frame = (full, wmap)
        elif self._last_frame is not None and self._last_frame[1].shape == (size, size):
            full, wmap = self._last_frame
            w_f, c_f = wmap[texel[:, 0], texel[:, 1]], full[texel[:, 0], texel[:, 1]]
        else:
            w_f, c_f = np.zeros(texel.shape[0], np.float32), field
        if self.reference is not None:
            w_r, c_r = layer(self.reference, "reference")
            both = (w_f > 0.5) & (w_r > 0.5)
            if frame is not None and both.sum() >= cfg.min_overlap:
                num = (c_f[both] * c_r[both]).sum(axis=0)
                den = np.maximum((c_r[both] ** 2).sum(axis=0), 1e-6)
                fitted = np.clip(num / den, *cfg.gain_limits)
                self.gain = (cfg.smoothing * fitted + (1 - cfg.smoothing) * self.gain).astype(np.float32)
            c_r = np.clip(c_r * self.gain, 0.0, 1.0)
        else:
            w_r, c_r = np.zeros(texel.shape[0], np.float32), field
        fill = w_r[:, None] * c_r + (1 - w_r[:, None]) * field
        colour = w_f[:, None] * c_f + (1 - w_f[:, None]) * fill
        image = np.zeros((size, size, 3), np.float32)
        image[texel[:, 0], texel[:, 1]] = colour
        image = dilate_texture(image, covered)
        k = max(texel.shape[0], 1)
        share_f = float(w_f.sum() / k)
        share_r = float(((1 - w_f) * w_r).sum() / k)
        info = {"frame": round(share_f, 4), "reference": round(share_r, 4),
                "field": round(1.0 - share_f - share_r, 4), "gain": [round(float(g), 4) for g in self.gain]}
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), info
