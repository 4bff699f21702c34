"""Tracked meshes: the head template fitted to each frame's field in turn (each fit starting from the
last, pulled by the frame's face landmarks where the camera sees them), so every frame of a clip is the
same mesh, vertex for vertex, with the same UVs."""

from dataclasses import dataclass

import numpy as np
import torch

from backend.config import MeshConfig
from backend.mesh.build import Stopwatch, Texturer, textured_mesh
from backend.mesh.extract import check_crossing
from backend.mesh.grid import density_grid_coarse_to_fine, grid_to_numpy
from backend.mesh.types import Mesh
from backend.render.field import SURFACE_DENSITY, Field
from backend.topology.fit import FitConfig, LandmarkTargets, MeshGraph, fit_template, grid_density, lift_landmarks
from backend.topology.template import N_FACE_LANDMARKS, HeadTemplate, load_head_template
from backend.units import METRES_PER_BOX_UNIT, metres_to_box


@dataclass
class LandmarkView:
    """One frame's face landmarks and the camera that saw them (what the fit lifts onto the field)."""

    pixels: np.ndarray
    """`[468, 2]` x, y in the camera's pixels (MediaPipe's face-mesh landmarks, without the irises)."""
    cam2world: np.ndarray
    """`[4, 4]` the camera in the head frame, box units, OpenCV axes."""
    intrinsics: np.ndarray
    """`[3, 3]` pixels."""


@dataclass
class FitReport:
    """How well one frame's fit went."""

    error_voxels: float | None
    """Mean distance of the template's points to the field's iso-surface, in voxels of the grid."""
    landmarks: int
    """Landmark points lifted onto the field and used (of the template's 420)."""
    landmark_error_mm: float | None
    """Mean distance of those points to their lifted landmarks after the fit (mm)."""

    def record(self) -> dict:
        """JSON-friendly: `error_voxels`, `landmarks`, `landmark_error_mm` (rounded)."""
        r = {"error_voxels": None if self.error_voxels is None else round(self.error_voxels, 4),
             "landmarks": self.landmarks}  # fmt: skip
        r["landmark_error_mm"] = None if self.landmark_error_mm is None else round(self.landmark_error_mm, 3)
        return r


class TrackedMesher:
    """`mesher(field, cfg, timings, texturer, view) -> Mesh`, the template fitted to `field` (with the
    frame's landmarks `view` when it has them); `last_report` is that fit's `FitReport`."""

    def __init__(self, template: HeadTemplate | None = None, fit: FitConfig | None = None):
        self.template = template or load_head_template()
        self.fit = fit or FitConfig()
        t = self.template
        self.faces = t.weld[t.faces]  # [F, 3] on the welded points
        self.points = np.zeros((int(t.weld.max()) + 1, 3), np.float32)
        self.points[t.weld] = metres_to_box(t.vertices)  # [P, 3] box units: the last fit (the template at first)
        self.graph = MeshGraph(self.faces, len(self.points))
        self.landmark_points = t.weld[t.landmarks[:N_FACE_LANDMARKS]]  # [468] welded point of each landmark
        self.last_report: FitReport | None = None

    def targets(self, density, view: LandmarkView, level: float) -> LandmarkTargets:
        """The frame's landmarks lifted onto `density`'s surface, one target per template point (the mean of
        the landmarks that share it)."""
        near = self.points[self.landmark_points]
        normals = self.graph.normals(torch.from_numpy(self.points))[self.landmark_points].numpy()
        positions, ok = lift_landmarks(density, view.cam2world, view.intrinsics, view.pixels, near, normals, level)
        points, inverse = np.unique(self.landmark_points[ok], return_inverse=True)
        sums = np.zeros((len(points), 3), np.float64)
        np.add.at(sums, inverse, positions[ok])
        return LandmarkTargets(points, (sums / np.bincount(inverse, minlength=len(points))[:, None]).astype(np.float32))

    def __call__(self, field: Field, cfg: MeshConfig, timings: dict | None = None,
                 texturer: Texturer | None = None, view: LandmarkView | None = None) -> Mesh:  # fmt: skip
        """The fitted, textured mesh (metres) of `field`; `timings` gets `grid`, `fit`, `colours`, `texture` ms.
        Raises `EmptySurfaceError` when the field has no surface."""
        level = SURFACE_DENSITY if cfg.iso_level is None else cfg.iso_level
        lap = Stopwatch(timings)
        grid, _ = density_grid_coarse_to_fine(field, cfg.resolution, level, cfg.coarse_factor, chunk=cfg.chunk_points)
        grid = grid_to_numpy(grid)
        check_crossing(grid, level)
        lap("grid")
        density = grid_density(grid)
        fit = FitConfig(**{**self.fit.__dict__, "level": level})
        targets = self.targets(density, view, level) if view is not None and fit.landmark_pull > 0 else None
        points, error = fit_template(density, self.points, self.graph, fit, targets)
        self.points = points
        landmark_mm = None
        if targets is not None and len(targets.points):
            gap = np.linalg.norm(points[targets.points] - targets.positions, axis=1)
            landmark_mm = float(gap.mean() * METRES_PER_BOX_UNIT * 1000.0)
        self.last_report = FitReport(
            float(np.nanmean(error) * cfg.resolution) if np.isfinite(error).any() else None,
            0 if targets is None else len(targets.points), landmark_mm)
        lap("fit")
        t = self.template
        return textured_mesh(field, points, self.faces, cfg, lambda v, f: (t.weld, t.faces, t.uv), texturer, lap)
