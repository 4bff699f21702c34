"""MediaPipe's face mesh rendered into the aligned crop: the lifter's geometry channels.

What is known of a face at inference, besides its pixels, is where MediaPipe's 478 landmarks fall in
the crop and where the same landmarks sit in the canonical head frame (the reference's template).
Rasterizing the 468-point tessellation with those as vertex attributes gives, per crop pixel:

- `pncc [3]`: the canonical coordinates (box units) of the face surface seen there, as Real3D-Portrait's
  PNCC: a pixel -> canonical-point correspondence;
- `depth [1]`: MediaPipe's relative depth of that surface, in box units (smaller is nearer);
- `normal [3]`: the face mesh's normal there, in the crop camera's axes (x right, y down, z away);
- `mask [1]`: 1 where the face mesh covers the pixel.

`GEOMETRY_CHANNELS` = 8, in that order, zeros outside the mask. The rasterizer draws triangles
far to near with OpenCV, then interpolates attributes barycentrically (a few ms at 128 px).
"""

from functools import lru_cache

import numpy as np

from .canonical import DEFAULT_CANONICAL

GEOMETRY_CHANNELS = 8
"""pncc (3) + depth (1) + normal (3) + mask (1)."""


@lru_cache(maxsize=1)
def face_triangles() -> np.ndarray:
    """The 468-point face mesh's triangles `[F, 3]` int64 (F = 854), from MediaPipe's tessellation edges,
    wound so that their normals face the camera in a frontal view (image axes, z away)."""
    import mediapipe as mp

    edges = mp.solutions.face_mesh_connections.FACEMESH_TESSELATION
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    tris = sorted({tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]})
    return np.asarray(tris, dtype=np.int64)


def crop_landmarks(landmarks: np.ndarray, crop_matrix: np.ndarray) -> np.ndarray:
    """Source-pixel landmarks `[478, 3]` (x, y, relative z) -> crop pixels `[478, 3]` through the
    similarity `crop_matrix [3, 3]`; z is scaled like x and y."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    matrix = np.asarray(crop_matrix, dtype=np.float64)
    xy = landmarks[:, :2] @ matrix[:2, :2].T + matrix[:2, 2]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    return np.concatenate([xy, landmarks[:, 2:3] * scale], axis=1).astype(np.float32)


def project_to_crop(points: np.ndarray, cam2world: np.ndarray, intrinsics: np.ndarray, size: int) -> np.ndarray:
    """Canonical points `[N, 3]` (box units) seen by the crop's camera (`cam2world [4, 4]`, normalized
    `intrinsics [3, 3]`) -> crop pixels `[N, 3]` at `size` px, as `crop_landmarks` gives them: x, y and a
    relative z (depth minus its mean) on the pixel scale at the points' mean depth."""
    points = np.asarray(points, dtype=np.float64)
    c2w = np.asarray(cam2world, dtype=np.float64)
    cam = (points - c2w[:3, 3]) @ c2w[:3, :3]  # camera axes (x right, y down, z away)
    K = np.asarray(intrinsics, dtype=np.float64)
    z = cam[:, 2].clip(1e-6)
    x = (cam[:, 0] / z * K[0, 0] + K[0, 2]) * size
    y = (cam[:, 1] / z * K[1, 1] + K[1, 2]) * size
    pixels_per_box = K[0, 0] * size / z.mean()
    return np.stack([x, y, (z - z.mean()) * pixels_per_box], axis=1).astype(np.float32)


def _vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals `[V, 3]` of `verts [V, 3]`, each facing the camera (z away)."""
    v0, v1, v2 = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    n = np.cross(v1 - v0, v2 - v0)  # [F, 3]
    n = np.where(n[:, 2:3] > 0, -n, n)  # the tessellation's winding varies
    out = np.zeros_like(verts)
    np.add.at(out, tris.reshape(-1), np.repeat(n, 3, axis=0))
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)


def geometry_channels(
    crop_landmarks_px: np.ndarray, template_points: np.ndarray, size: int, box_per_pixel: float | None = None
) -> np.ndarray:
    """Render the face mesh into a `size x size` crop -> `[8, size, size]` float32 (see module doc).

    `crop_landmarks_px [478, 3]`: landmarks in crop pixels (x, y, relative z on the pixel scale);
    `template_points [478, 3]`: the same landmarks in the canonical frame (box units);
    `box_per_pixel`: box units per crop pixel at the face (converts z to box units); None takes the
    canonical crop's (`CanonicalFace.frame_span / size`).
    Triangles are drawn far to near (painter's order) into a triangle-index image; each covered pixel
    then interpolates its triangle's vertex attributes barycentrically.
    """
    import cv2

    if box_per_pixel is None:
        box_per_pixel = DEFAULT_CANONICAL.frame_span / size
    lm = np.asarray(crop_landmarks_px, dtype=np.float64)[:468]
    can = np.asarray(template_points, dtype=np.float64)[:468]
    tris = face_triangles()
    depth = lm[:, 2] * box_per_pixel  # [468]
    normals = _vertex_normals(lm, tris)  # [468, 3]
    attrs = np.concatenate([can, depth[:, None], normals], axis=1)  # [468, 7]
    ids = np.zeros((size, size), dtype=np.int32)
    shift = 4
    corners = np.round((lm[tris, :2] - 0.5) * (1 << shift)).astype(np.int32)  # [F, 3, 2], pixel centres at .5
    for k in np.argsort(-depth[tris].mean(1)):  # far to near
        cv2.fillConvexPoly(ids, corners[k], int(k) + 1, lineType=cv2.LINE_8, shift=shift)
    out = np.zeros((size * size, GEOMETRY_CHANNELS), dtype=np.float64)
    flat = ids.reshape(-1)
    hit = np.nonzero(flat)[0]
    if hit.size:
        t = tris[flat[hit] - 1]  # [n, 3]
        p = np.stack([hit % size + 0.5, hit // size + 0.5], axis=1)  # [n, 2]
        a, b, c = lm[t[:, 0], :2], lm[t[:, 1], :2], lm[t[:, 2], :2]
        det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
        det = np.where(np.abs(det) < 1e-9, 1e-9, det)
        d = p - a
        w1 = (d[:, 0] * (c[:, 1] - a[:, 1]) - d[:, 1] * (c[:, 0] - a[:, 0])) / det
        w2 = ((b[:, 0] - a[:, 0]) * d[:, 1] - (b[:, 1] - a[:, 1]) * d[:, 0]) / det
        w = np.clip(np.stack([1.0 - w1 - w2, w1, w2], axis=1), 0.0, 1.0)  # edge pixels: clamp to the triangle
        w /= w.sum(1, keepdims=True)
        v = (w[:, :, None] * attrs[t]).sum(1)  # [n, 7]
        v[:, 4:7] /= np.linalg.norm(v[:, 4:7], axis=1, keepdims=True).clip(1e-6)
        out[hit, :7] = v
        out[hit, 7] = 1.0
    return out.T.reshape(GEOMETRY_CHANNELS, size, size).astype(np.float32)
