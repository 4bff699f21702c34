"""Cameras, rays, triplane sampling, the decoder and volume rendering (knows nothing of networks
beyond the decoder MLP that defines the field)."""

from backend.render.cameras import intrinsics_matrix, look_at, orbit_camera, project_points
from backend.render.decoder import TriplaneDecoder
from backend.render.field import SURFACE_DENSITY, Field, TriplaneField
from backend.render.rays import generate_rays, ray_box_intersection
from backend.render.renderer import render_image, render_rays, render_rays_reference
from backend.render.triplane import check_triplane, sample_triplane, sample_triplane_reference

__all__ = [
    "SURFACE_DENSITY",
    "Field",
    "TriplaneDecoder",
    "TriplaneField",
    "check_triplane",
    "generate_rays",
    "intrinsics_matrix",
    "look_at",
    "orbit_camera",
    "project_points",
    "ray_box_intersection",
    "render_image",
    "render_rays",
    "render_rays_reference",
    "sample_triplane",
    "sample_triplane_reference",
]
