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

import cv2
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
    zbuffer_side: int = 256
    """Longest side of each view's visibility z-buffer, laid over the head's box in that view."""
    depth_tolerance: float = 0.015
    """A surface point is visible when it is at most this much (box units) behind the z-buffer."""
    smoothing: float = 0.5
    """Weight of the new frame when blend weights and gains are smoothed over time (1: no smoothing)."""
    min_overlap: int = 400
    """Texels both the frame and the reference must see before a gain is fitted."""
    gain_limits: tuple[float, float] = (0.5, 2.0)
    """Per-channel gains of the reference are kept in this range."""
    field_factor: int = 4
    """The field's colour (a blur) is laid out at 1/this of the texture side and upsampled; only the
    triangles a view sees are rasterized at full size."""
    reference_factor: int = 2
    """The reference's layer is made at 1/this of the texture side (it is a fill; the frame is full size)."""


class ViewVisibility:
    """What one view sees of a mesh: its z-buffer, laid over the head's box in the view, made once."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, view: PhotoView, cfg: ProjectionConfig):
        """vertices `[V, 3]`, faces `[F, 3]` (box units): the occluders."""
        self.view, self.cfg = view, cfg
        h, w = view.image.shape[:2]
        pix, _ = project(vertices, view.cam2world, view.intrinsics)
        self.lo = np.clip(pix.min(axis=0), 0, [w, h])
        hi = np.clip(pix.max(axis=0), 0, [w, h])
        self.empty = bool((hi - self.lo).min() < 1.0)
        if self.empty:
            return
        self.scale = cfg.zbuffer_side / float((hi - self.lo).max())
        self.zw = int(np.ceil((hi[0] - self.lo[0]) * self.scale))
        self.zh = int(np.ceil((hi[1] - self.lo[1]) * self.scale))
        sc = self.scale
        to_z = np.array([[sc, 0, -self.lo[0] * sc], [0, sc, -self.lo[1] * sc], [0, 0, 1]])
        raster = camera_raster(vertices, faces, view.cam2world, to_z @ view.intrinsics, self.zw, self.zh)
        self.nearest = scipy.ndimage.minimum_filter(raster.depth, size=3, mode="nearest")  # conservative at edges

    def weights(self, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Surface points `[K, 3]` with unit normals `[K, 3]` -> (weight `[K]` in 0..1: how much each may take
        its colour from the view, xy `[K, 2]`: where it falls in the view's image, pixels)."""
        view, cfg = self.view, self.cfg
        xy, z = project(points, view.cam2world, view.intrinsics)
        if self.empty:
            return np.zeros(points.shape[0], np.float32), xy
        h, w = view.image.shape[:2]
        zx = np.clip(((xy[:, 0] - self.lo[0]) * self.scale).astype(np.int64), 0, self.zw - 1)
        zy = np.clip(((xy[:, 1] - self.lo[1]) * self.scale).astype(np.int64), 0, self.zh - 1)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h) & (z > 0)
        visible = inside & (z <= self.nearest[zy, zx] + cfg.depth_tolerance)
        centre = np.asarray(view.cam2world, dtype=np.float64)[:3, 3]
        to_cam = centre - points
        cos = np.einsum("kd,kd->k", normals, to_cam) / np.maximum(np.linalg.norm(to_cam, axis=1), 1e-9)
        c0, c1 = np.cos(np.radians(cfg.grazing_deg)), np.cos(np.radians(cfg.full_weight_deg))
        facing = np.clip((cos - c0) / max(c1 - c0, 1e-6), 0.0, 1.0) ** cfg.strictness
        return np.where(visible, facing, 0.0).astype(np.float32), xy


def view_weights(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, normals: np.ndarray, view: PhotoView,
    cfg: ProjectionConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """How much each surface point may take its colour from `view`, and where it falls in the image
    (`ViewVisibility(vertices, faces, view, cfg).weights(points, normals)`): not hidden behind the mesh
    (vertices `[V, 3]`, faces `[F, 3]`, box units), facing the camera, inside the image."""
    return ViewVisibility(vertices, faces, view, cfg).weights(points, normals)


def feathered(weight: np.ndarray, covered: np.ndarray, width: float, block: int = 1) -> np.ndarray:
    """Ramp a texel weight map `[T, T]` to zero over `width` texels towards the texels it does not see
    (texels the mesh does not cover, `covered [T, T]` False, do not count as edges). With `block` > 1 the
    distance is measured on a grid that many times coarser (a block is inside when all its texels are)."""
    if width <= 0 or not (weight > 0).any():
        return weight
    inside = (weight > 0) | ~covered
    if inside.all():
        return weight
    if block > 1 and inside.shape[0] % block == 0 and inside.shape[1] % block == 0:
        t = inside.shape[0]
        coarse = inside.reshape(t // block, block, -1, block).all(axis=(1, 3))
        dist = scipy.ndimage.distance_transform_edt(coarse) * block
        dist = cv2.resize(dist.astype(np.float32), inside.shape[::-1], interpolation=cv2.INTER_LINEAR)
        dist = np.where(inside, np.maximum(dist, 1.0), 0.0)
    else:
        dist = scipy.ndimage.distance_transform_edt(inside)
    return (weight * np.clip(dist / width, 0.0, 1.0)).astype(np.float32)


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
        self.frame_layer: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """The last texture's make-up, float 0..1: how much of each texel came from the frame itself `[T, T]`
        (zeros for a held frame, whose colours were the last frame's), the frame's own colours `[T, T, 3]`
        and the fill `[T, T, 3]` (reference and field) under them."""

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
        field, covered = self._field_layer(faces, uv, colours, size)
        if frame is not None:
            w_f, c_f = self._view_layer(frame.check(), "frame", vertices, faces, uv, normals, covered, size)
            self._last_frame = (c_f, w_f)
        elif self._last_frame is not None and self._last_frame[1].shape == (size, size):
            c_f, w_f = self._last_frame
        else:
            c_f, w_f = field, np.zeros((size, size), np.float32)
        fill = field
        w_r = np.zeros((size, size), np.float32)
        if self.reference is not None:
            side = size // cfg.reference_factor if size % cfg.reference_factor == 0 else size
            w_r, c_r = self._view_layer(self.reference, "reference", vertices, faces, uv, normals, covered, side)
            if side != size:
                w_r = cv2.resize(w_r, (size, size), interpolation=cv2.INTER_LINEAR)
                c_r = cv2.resize(c_r, (size, size), interpolation=cv2.INTER_LINEAR)
            both = (w_f > 0.5) & (w_r > 0.5)
            if frame is not None and both.sum() >= cfg.min_overlap:
                num = (c_f[both] * c_r[both]).sum(axis=0)
                den = np.maximum((c_r[both] ** 2).sum(axis=0), 1e-6)
                fitted = np.clip(num / den, *cfg.gain_limits)
                self.gain = (cfg.smoothing * fitted + (1 - cfg.smoothing) * self.gain).astype(np.float32)
            fill = field + w_r[..., None] * (np.clip(c_r * self.gain, 0.0, 1.0) - field)
        image = fill + w_f[..., None] * (c_f - fill)
        self.frame_layer = (w_f if frame is not None else np.zeros_like(w_f), c_f, fill)
        k = max(int(covered.sum()), 1)
        share_f = float(w_f[covered].sum() / k)
        share_r = float(((1 - w_f[covered]) * w_r[covered]).sum() / k)
        info = {"frame": round(share_f, 4), "reference": round(share_r, 4),
                "field": round(1.0 - share_f - share_r, 4), "gain": [round(float(g), 4) for g in self.gain]}
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), info

    def _field_layer(self, faces, uv, colours, size: int) -> tuple[np.ndarray, np.ndarray]:
        """The field's colour `[size, size, 3]` (laid out at a fraction of the size, dilated, upsampled) and
        the texels the mesh covers `[size, size]` bool."""
        factor = self.cfg.field_factor if size % self.cfg.field_factor == 0 else 1
        low = size // factor
        texel, face, bary = rasterize_uv(uv, faces, low)
        image = np.zeros((low, low, 3), np.float32)
        filled = np.zeros((low, low), bool)
        image[texel[:, 0], texel[:, 1]] = np.einsum("kj,kjd->kd", bary, colours[faces[face]].astype(np.float32))
        filled[texel[:, 0], texel[:, 1]] = True
        image = dilate_texture(image, filled)
        if factor == 1:
            return image, filled
        up = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
        covered = cv2.resize(filled.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)
        return up, covered

    def _view_layer(self, view: PhotoView, name: str, vertices, faces, uv, normals, covered, side: int):
        """One view's smoothed, feathered weight `[side, side]` and its colours `[side, side, 3]` (0..1), from
        the triangles with a corner the view sees, rasterized at `side`."""
        cfg = self.cfg
        visibility = ViewVisibility(vertices, faces, view, cfg)
        w_vertex, _ = visibility.weights(vertices.astype(np.float64), normals.astype(np.float64))
        seen_faces = faces[(w_vertex[faces] > 0).any(axis=1)]
        weight = np.zeros((side, side), np.float32)
        colour = np.zeros((side, side, 3), np.float32)
        if seen_faces.shape[0]:
            texel, face, bary = rasterize_uv(uv, seen_faces, side)
            corners = seen_faces[face]
            points = np.einsum("kj,kjd->kd", bary, vertices[corners].astype(np.float64))
            n = np.einsum("kj,kjd->kd", bary, normals[corners].astype(np.float64))
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
            w, xy = visibility.weights(points, n)
            keep = w > 0
            weight[texel[keep, 0], texel[keep, 1]] = w[keep]
            colour[texel[keep, 0], texel[keep, 1]] = sample_bilinear(view.image, xy[keep]) / 255.0  # full size
        if side != covered.shape[0]:
            covered = cv2.resize(covered.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST).astype(bool)
        block = self.cfg.field_factor if side % self.cfg.field_factor == 0 else 1
        weight = self._smooth(name, feathered(weight, covered, cfg.feather * side, block))
        return weight, colour
