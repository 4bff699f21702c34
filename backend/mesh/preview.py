"""Pictures of a mesh from a camera (for contact sheets): grey shading, its vertex colours, its texture."""

import numpy as np

from backend.mesh.raster import camera_raster, render_textured
from backend.mesh.types import Mesh
from backend.units import metres_to_box


def _pixels(intrinsics: np.ndarray, size: int) -> np.ndarray:
    K = np.asarray(intrinsics, dtype=np.float64).copy()
    K[:2] *= size
    return K


def shade_mesh(
    mesh: Mesh, cam2world: np.ndarray, intrinsics: np.ndarray, size: int, background: float = 1.0
) -> np.ndarray:
    """Grey Lambert shading of `mesh` (metres) seen from `cam2world [4, 4]` (box units, OpenCV axes)
    with normalized `intrinsics [3, 3]`, a light at the camera -> `[size, size, 3]` uint8."""
    verts = metres_to_box(mesh.vertices.astype(np.float64))
    r = camera_raster(verts, mesh.faces, cam2world, _pixels(intrinsics, size), size, size)
    image = np.full((size, size, 3), background, dtype=np.float32)
    seen = r.mask
    if seen.any():
        normals = mesh.face_normals() @ np.linalg.inv(cam2world)[:3, :3].T  # [F, 3] in camera space
        image[seen] = (np.clip(-normals[r.face[seen], 2], 0.0, 1.0) * 0.85 + 0.1)[:, None]
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def colour_mesh(
    mesh: Mesh, cam2world: np.ndarray, intrinsics: np.ndarray, size: int, texture: bool = True,
    background: float = 1.0,
) -> np.ndarray:
    """Unlit picture of `mesh` (metres) with its texture (`texture`, when it has one) or its vertex colours
    (the field's colour), camera as `shade_mesh` -> `[size, size, 3]` uint8."""
    verts = metres_to_box(mesh.vertices.astype(np.float64))
    K = _pixels(intrinsics, size)
    bg = (background,) * 3
    if texture and mesh.texture is not None and mesh.uv is not None:
        return render_textured(verts, mesh.faces, mesh.uv, mesh.texture, cam2world, K, size, size, bg)[0]
    r = camera_raster(verts, mesh.faces, cam2world, K, size, size)
    image = np.full((size, size, 3), background * 255.0, dtype=np.float32)
    seen = r.mask
    if seen.any():
        image[seen] = np.einsum("kj,kjd->kd", r.bary[seen], mesh.colors[mesh.faces[r.face[seen]]].astype(np.float64))
    return (np.clip(image, 0, 255) + 0.5).astype(np.uint8)
