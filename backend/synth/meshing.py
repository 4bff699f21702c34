"""The reference mesh of a synthetic head: marching cubes of its exact field (backend.mesh)."""

import numpy as np
import torch

from backend.mesh.extract import surface_from_grid, to_metres
from backend.mesh.grid import density_grid_coarse_to_fine, grid_to_numpy
from backend.mesh.types import Mesh
from backend.render.field import SURFACE_DENSITY
from backend.synth.head import SynthHead


@torch.no_grad()
def reference_mesh(head: SynthHead, resolution: int = 128) -> Mesh:
    """Mesh (metres, canonical head frame) of the head's SURFACE_DENSITY iso-surface, with vertex colours.

    Uses the coarse-to-fine grid of `resolution` cells per side over the box; vertex colours are
    the field's lit colour.
    """

    def density_only(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # [B, N, 3] -> density, dummy rgb
        flat = points.reshape(-1, 3)
        dens = head.density_from_sdf(head.sdf(flat)).reshape(*points.shape[:2], 1)
        return dens, torch.zeros(*points.shape[:2], 3)

    grid, _ = density_grid_coarse_to_fine(density_only, resolution, SURFACE_DENSITY, coarse_factor=2, chunk=65536)
    # keep every component: the eyeballs are separate parts
    verts, faces = surface_from_grid(grid_to_numpy(grid), SURFACE_DENSITY, keep_largest=False)
    v = torch.from_numpy(verts)
    colours = torch.cat([head.colour(v[i : i + 65536]) for i in range(0, v.shape[0], 65536)])
    return Mesh(to_metres(verts), faces, (colours.numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8))


def save_mesh_npz(mesh: Mesh, path) -> None:
    """Write a mesh as a compressed .npz (vertices float32 metres, faces int32, colors uint8)."""
    np.savez_compressed(path, vertices=mesh.vertices, faces=mesh.faces, colors=mesh.colors)


def load_mesh_npz(path) -> Mesh:
    """Read a mesh written by `save_mesh_npz`."""
    with np.load(path) as z:
        return Mesh(z["vertices"], z["faces"], z["colors"])
