"""Marching cubes on a density grid and clean-up."""

import mcubes
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from backend.units import box_to_metres


class EmptySurfaceError(ValueError):
    """The field has no surface at the requested level (nothing to mesh)."""


def check_crossing(grid: np.ndarray, level: float) -> None:
    """Raise `EmptySurfaceError` unless the density `grid` crosses `level` somewhere (there is a surface)."""
    lo, hi = float(grid.min()), float(grid.max())
    if not lo < level < hi:
        raise EmptySurfaceError(
            f"no surface: density ranges over [{lo:.4g}, {hi:.4g}] and never crosses the iso-level {level:.4g}"
        )


def marching_cubes(grid: np.ndarray, level: float, box_half: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface of a density grid `[N+1, N+1, N+1]` (high inside) at `level` (PyMCubes).

    Returns vertices `[V, 3]` in box units and faces `[F, 3]` int32, oriented outwards.
    """
    if grid.ndim != 3 or len(set(grid.shape)) != 1:
        raise ValueError(f"density grid must be a cube [N+1, N+1, N+1], got {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError("density grid contains NaN/inf values")
    check_crossing(grid, level)
    verts, faces = mcubes.marching_cubes(grid, level)
    n = grid.shape[0] - 1
    verts = verts.astype(np.float32) * (2.0 * box_half / n) - box_half
    # For a field that is high inside, PyMCubes' winding already faces outwards.
    return verts, np.ascontiguousarray(faces, dtype=np.int32)


def largest_component(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the connected component with the most faces; vertices `[V, 3]`, faces `[F, 3]`."""
    if faces.shape[0] == 0:
        return vertices, faces
    v = vertices.shape[0]
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = scipy.sparse.coo_matrix((np.ones_like(rows, dtype=np.int8), (rows, cols)), shape=(v, v))
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    face_labels = labels[faces[:, 0]]
    keep_label = np.bincount(face_labels).argmax()
    kept = faces[face_labels == keep_label]
    used = np.unique(kept)
    remap = np.full(v, -1, dtype=np.int64)
    remap[used] = np.arange(used.shape[0])
    return vertices[used], remap[kept].astype(np.int32)


def surface_from_grid(
    grid: np.ndarray, level: float, box_half: float = 0.5, keep_largest: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes + optional largest-component clean-up; vertices in box units."""
    verts, faces = marching_cubes(grid, level, box_half)
    if keep_largest:
        verts, faces = largest_component(verts, faces)
    return verts, faces


def to_metres(vertices_box: np.ndarray) -> np.ndarray:
    """Box units -> metres for export (the one scale factor lives in backend.units)."""
    return box_to_metres(vertices_box).astype(np.float32)
