"""UV layouts: a head-centred projection (the same for every frame) or an xatlas atlas."""

import numpy as np

# Centre of the head-centred projection in box units (between the ears, a little above the
# pivot of the default camera): directions from here cover the head without fold-overs.
HEAD_UV_CENTRE = (0.0, 0.05, 0.0)


def head_projection_uv(
    vertices: np.ndarray, faces: np.ndarray, centre=HEAD_UV_CENTRE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spherical projection about a fixed head centre; the layout depends only on directions.

    vertices `[V, 3]` (box units), faces `[F, 3]`. u = azimuth (0.5 faces +z, the seam is at the
    back of the head), v = elevation (1 at the crown). Faces that straddle the seam get duplicated
    vertices with u + 1, so textures must repeat in u (the default in glTF and Blender).
    Returns `(vertex_index [V'], faces [F, 3], uv [V', 2])`: new vertex i copies old vertex_index[i].
    """
    d = vertices - np.asarray(centre, dtype=np.float32)
    r = np.maximum(np.linalg.norm(d, axis=1), 1e-9)
    u = np.arctan2(d[:, 0], d[:, 2]) / (2 * np.pi) + 0.5
    v = 1.0 - np.arccos(np.clip(d[:, 1] / r, -1.0, 1.0)) / np.pi
    uv = np.stack([u, v], axis=1).astype(np.float32)
    fu = u[faces]  # [F, 3]
    seam = (fu.max(axis=1) - fu.min(axis=1)) > 0.5
    low = seam[:, None] & (fu < 0.5)  # corners to move across the seam
    src = np.unique(faces[low])
    new_index = np.arange(vertices.shape[0], vertices.shape[0] + src.shape[0])
    remap = np.full(vertices.shape[0], -1, dtype=np.int64)
    remap[src] = new_index
    faces = faces.copy()
    faces[low] = remap[faces[low]]
    extra_uv = uv[src] + np.array([1.0, 0.0], dtype=np.float32)
    vertex_index = np.concatenate([np.arange(vertices.shape[0]), src])
    return vertex_index, faces.astype(np.int32), np.concatenate([uv, extra_uv]).astype(np.float32)


def xatlas_uv(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An xatlas atlas (charts packed in [0, 1]^2) for a single mesh; same return as `head_projection_uv`."""
    import xatlas

    vmapping, indices, uvs = xatlas.parametrize(vertices.astype(np.float32), faces.astype(np.uint32))
    return vmapping.astype(np.int64), indices.astype(np.int32), uvs.astype(np.float32)
