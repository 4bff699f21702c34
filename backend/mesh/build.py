"""Field -> textured mesh: the one entry point the pipeline calls."""

import time
from collections.abc import Callable

import numpy as np
import torch

from backend.config import MeshConfig
from backend.mesh.extract import surface_from_grid, to_metres
from backend.mesh.grid import density_grid_coarse_to_fine, evaluate_points, grid_to_numpy
from backend.mesh.texture import bake_texture
from backend.mesh.types import Mesh
from backend.mesh.uv import head_projection_uv, xatlas_uv
from backend.render.field import SURFACE_DENSITY, Field


def field_colours(field: Field, points: np.ndarray, chunk: int = 262144) -> np.ndarray:
    """RGB of the field at points `[N, 3]` (box units) -> `[N, 3]` float32 in 0..1."""
    _, feats = evaluate_points(field, torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)), chunk)
    return feats[:, :3].clamp(0, 1).numpy()


Texturer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]
"""`(vertices [V, 3] box units, faces [F, 3], uv [V, 2], unit normals [V, 3], field colours [V, 3] in 0..1,
size) -> texture [size, size, 3] uint8`: how a texture is made other than by baking the field's colour
(`mesh.projection.TextureBlender.texture` behind a closure)."""


UVLayout = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""`(vertices [V, 3], faces [F, 3]) -> (index [V'] into the vertices, faces [F, 3] on the indexed vertices,
uv [V', 2])`: a UV layout, which duplicates the vertices on its seams."""


class Stopwatch:
    """`lap(name)`: the milliseconds since the last lap (or since made) into `timings[name]` (None: kept nowhere)."""

    def __init__(self, timings: dict | None):
        self.timings, self.start = timings, time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = (now - self.start) * 1000.0
        self.start = now


def textured_mesh(field: Field, verts: np.ndarray, faces: np.ndarray, cfg: MeshConfig, layout: UVLayout | None,
                  texturer: Texturer | None, lap: Stopwatch) -> Mesh:  # fmt: skip
    """The mesh (metres) of a surface `verts [V, 3]` (box units, welded), `faces [F, 3]` of `field`: the field's
    vertex colours and the normals (lap `colours`), then with `layout` the UVs and, with a texture size, the
    texture, baked from the field or made by `texturer` (lap `texture`)."""
    colours = field_colours(field, verts, cfg.chunk_points)
    normals = Mesh(to_metres(verts), faces, np.zeros_like(verts, dtype=np.uint8)).vertex_normals()
    lap("colours")
    uv = texture = None
    if layout is not None:
        index, faces, uv = layout(verts, faces)
        verts, colours, normals = verts[index], colours[index], normals[index]
        if cfg.texture_size > 0 and texturer is not None:
            texture = texturer(verts, faces, uv, normals, colours, cfg.texture_size)
        elif cfg.texture_size > 0:
            texture, _ = bake_texture(verts, faces, uv, lambda p: field_colours(field, p, cfg.chunk_points),
                                      cfg.texture_size)  # fmt: skip
    lap("texture")
    rgb8 = (np.clip(colours, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Mesh(to_metres(verts), faces, rgb8, uv=uv, texture=texture, normals=normals)


def mesh_from_field(
    field: Field, cfg: MeshConfig | None = None, timings: dict | None = None, texturer: Texturer | None = None
) -> Mesh:
    """Extract a textured mesh (metres) from a field.

    Coarse-to-fine density grid -> marching cubes at the iso-level -> largest component ->
    vertex colours -> UV layout -> texture: baked from the field, or made by `texturer` when given.
    `timings`, when given, receives milliseconds per stage (`grid`, `marching`, `colours`, `texture`).
    Raises `EmptySurfaceError` when the field has no surface, ValueError for NaN densities.
    """
    cfg = cfg or MeshConfig()
    level = SURFACE_DENSITY if cfg.iso_level is None else cfg.iso_level
    lap = Stopwatch(timings)
    grid, _ = density_grid_coarse_to_fine(field, cfg.resolution, level, cfg.coarse_factor, chunk=cfg.chunk_points)
    lap("grid")
    verts, faces = surface_from_grid(grid_to_numpy(grid), level, keep_largest=cfg.keep_largest_component)
    lap("marching")
    layouts = {"head": head_projection_uv, "xatlas": xatlas_uv}
    if cfg.uv_mode not in layouts:
        raise ValueError(f"unknown uv_mode {cfg.uv_mode!r}: expected 'head' or 'xatlas'")
    return textured_mesh(field, verts, faces, cfg, layouts[cfg.uv_mode] if cfg.texture_size > 0 else None,
                         texturer, lap)  # fmt: skip
