"""A shaded picture of a mesh from a camera (for contact sheets), by a small z-buffer rasterizer."""

import numpy as np

from backend.mesh.texture import rasterize_uv
from backend.mesh.types import Mesh
from backend.units import metres_to_box


def shade_mesh(
    mesh: Mesh, cam2world: np.ndarray, intrinsics: np.ndarray, size: int, background: float = 0.15
) -> np.ndarray:
    """Grey Lambert shading of `mesh` (metres) seen from `cam2world [4, 4]` (box units, OpenCV axes)
    with normalized `intrinsics [3, 3]`, a light at the camera -> `[size, size, 3]` uint8."""
    verts = metres_to_box(mesh.vertices.astype(np.float64))
    w2c = np.linalg.inv(cam2world)
    pc = verts @ w2c[:3, :3].T + w2c[:3, 3]  # [V, 3] camera space
    z = np.maximum(pc[:, 2], 1e-6)
    uv = np.stack(
        [pc[:, 0] / z * intrinsics[0, 0] + intrinsics[0, 2], pc[:, 1] / z * intrinsics[1, 1] + intrinsics[1, 2]], 1
    )
    screen = np.stack([uv[:, 0], 1.0 - uv[:, 1]], 1)  # rasterize_uv wants v up
    texel, face, bary = rasterize_uv(screen, mesh.faces, size, wrap_u=False)
    image = np.full((size, size, 3), background, dtype=np.float32)
    if texel.shape[0]:
        depth = np.einsum("kj,kj->k", bary, z[mesh.faces[face]])
        order = np.argsort(-depth)  # far first, so the nearest write wins
        texel, face = texel[order], face[order]
        normals = mesh.face_normals() @ w2c[:3, :3].T  # [F, 3] in camera space
        shade = np.clip(-normals[face, 2], 0.0, 1.0) * 0.85 + 0.1
        image[texel[:, 0], texel[:, 1]] = shade[:, None]
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
