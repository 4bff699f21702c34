"""Mesh extraction benchmark: dense vs coarse-to-fine grids, PyMCubes vs scikit-image.

On the analytic head-shaped field (`render.analytic.blobby_head_field`), at 128^3 and 256^3.
`speedup_256` is dense grid ms / coarse-to-fine grid ms (the evaluation coarse-to-fine saves);
`speedup_256_with_marching` adds the marching cubes both paths share.
"""

import mcubes
import numpy as np
import skimage.measure
from scipy.spatial import cKDTree

from backend.bench import timed
from backend.mesh.extract import surface_from_grid
from backend.mesh.grid import density_grid_coarse_to_fine, density_grid_dense, grid_to_numpy
from backend.render.analytic import blobby_head_field
from backend.render.field import SURFACE_DENSITY


def chamfer_voxels(a: np.ndarray, b: np.ndarray, resolution: int) -> float:
    """Symmetric mean nearest-neighbour distance between vertex sets `[N, 3]` (box units), in voxels."""
    d = 0.5 * (cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())
    return float(d * resolution)


def run(args) -> dict:
    field = blobby_head_field()
    repeats = 1 if args.quick else 3
    out: dict = {"field": "render.analytic.blobby_head_field", "iso_level": SURFACE_DENSITY}
    for res in (128, 256):
        dense_ms, dense = timed(lambda r=res: density_grid_dense(field, r), repeats)
        c2f_ms, (fine, fraction) = timed(lambda r=res: density_grid_coarse_to_fine(field, r, SURFACE_DENSITY), repeats)
        grid_d, grid_f = grid_to_numpy(dense), grid_to_numpy(fine)
        mc_ms, (va, _) = timed(lambda g=grid_d: surface_from_grid(g, SURFACE_DENSITY), repeats)
        vb, _ = surface_from_grid(grid_f, SURFACE_DENSITY)
        pymcubes_ms, _ = timed(lambda g=grid_d: mcubes.marching_cubes(g, SURFACE_DENSITY), repeats)
        skimage_ms, _ = timed(lambda g=grid_d: skimage.measure.marching_cubes(g, SURFACE_DENSITY), repeats)
        out[f"dense_grid_ms_{res}"] = round(dense_ms, 1)
        out[f"c2f_grid_ms_{res}"] = round(c2f_ms, 1)
        out[f"c2f_fraction_evaluated_{res}"] = round(fraction, 4)
        out[f"speedup_{res}"] = round(dense_ms / c2f_ms, 2)
        out[f"speedup_{res}_with_marching"] = round((dense_ms + mc_ms) / (c2f_ms + mc_ms), 2)
        out[f"chamfer_vox_{res}"] = round(chamfer_voxels(va, vb, res), 4)
        out[f"vertices_{res}"] = int(va.shape[0])
        out[f"pymcubes_ms_{res}"] = round(pymcubes_ms, 1)
        out[f"skimage_mc_ms_{res}"] = round(skimage_ms, 1)
        out[f"pymcubes_vs_skimage_{res}"] = round(pymcubes_ms / skimage_ms, 2)
    return out
