"""Tracked meshes: the head template fitted to each frame's field in turn (each fit starting from the
last), so every frame of a clip is the same mesh, vertex for vertex, with the same UVs."""

import time

import numpy as np

from backend.config import MeshConfig
from backend.mesh import EmptySurfaceError
from backend.mesh.build import Texturer, field_colours
from backend.mesh.extract import to_metres
from backend.mesh.grid import density_grid_coarse_to_fine, grid_to_numpy
from backend.mesh.texture import bake_texture
from backend.mesh.types import Mesh
from backend.render.field import SURFACE_DENSITY, Field
from backend.topology.fit import FitConfig, fit_template, grid_density, mesh_graph
from backend.topology.template import HeadTemplate, load_head_template
from backend.units import metres_to_box


class TrackedMesher:
    """`mesher(field, cfg, timings, texturer) -> Mesh`, the template fitted to `field`; `last_error_voxels`
    is that fit's mean distance to the iso-surface in voxels of `cfg.resolution`."""

    def __init__(self, template: HeadTemplate | None = None, fit: FitConfig | None = None):
        self.template = template or load_head_template()
        self.fit = fit or FitConfig()
        t = self.template
        self.faces = t.weld[t.faces]  # [F, 3] on the welded points
        self.points = np.zeros((int(t.weld.max()) + 1, 3), np.float32)
        self.points[t.weld] = metres_to_box(t.vertices)  # [P, 3] box units: the last fit (the template at first)
        self.graph = mesh_graph(self.faces, len(self.points))
        self.last_error_voxels: float | None = None

    def __call__(self, field: Field, cfg: MeshConfig, timings: dict | None = None,
                 texturer: Texturer | None = None) -> Mesh:  # fmt: skip
        """The fitted, textured mesh (metres) of `field`; `timings` gets `grid`, `fit`, `colours`, `texture` ms.
        Raises `EmptySurfaceError` when the field has no surface."""
        level = SURFACE_DENSITY if cfg.iso_level is None else cfg.iso_level
        clock = [time.perf_counter()]

        def lap(name):
            now = time.perf_counter()
            if timings is not None:
                timings[name] = (now - clock[0]) * 1000.0
            clock[0] = now

        grid, _ = density_grid_coarse_to_fine(field, cfg.resolution, level, cfg.coarse_factor, chunk=cfg.chunk_points)
        grid = grid_to_numpy(grid)
        if not grid.min() < level < grid.max():
            raise EmptySurfaceError(f"no surface: the density never crosses the iso-level {level:.4g}")
        lap("grid")
        fit = FitConfig(**{**self.fit.__dict__, "level": level})
        points, error = fit_template(grid_density(grid), self.points, self.faces, fit, self.graph)
        self.points = points
        self.last_error_voxels = float(np.nanmean(error) * cfg.resolution) if np.isfinite(error).any() else None
        lap("fit")
        t = self.template
        verts, faces, uv = points[t.weld], t.faces, t.uv
        colours = field_colours(field, verts, cfg.chunk_points)
        normals = Mesh(to_metres(verts), faces, np.zeros_like(verts, dtype=np.uint8)).vertex_normals()
        lap("colours")
        texture = None
        if cfg.texture_size > 0:
            if texturer is not None:
                texture = texturer(verts, faces, uv, normals, colours, cfg.texture_size)
            else:
                texture, _ = bake_texture(verts, faces, uv, lambda p: field_colours(field, p, cfg.chunk_points),
                                          cfg.texture_size)  # fmt: skip
        lap("texture")
        rgb8 = (np.clip(colours, 0, 1) * 255 + 0.5).astype(np.uint8)
        return Mesh(to_metres(verts), faces, rgb8, uv=uv, texture=texture, normals=normals)
