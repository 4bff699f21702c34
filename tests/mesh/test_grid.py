import numpy as np
import pytest
from scipy.spatial import cKDTree

from backend.mesh.extract import surface_from_grid
from backend.mesh.grid import density_grid_coarse_to_fine, density_grid_dense, grid_to_numpy
from backend.render.analytic import blobby_head_field


def chamfer(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * (cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean())


@pytest.mark.parametrize("resolution", [128, 256])
def test_coarse_to_fine_matches_dense(resolution):
    field = blobby_head_field()
    dense = density_grid_dense(field, resolution)
    fine, fraction = density_grid_coarse_to_fine(field, resolution, 25.0, coarse_factor=4)
    assert fraction < 0.35  # it really skipped most of the grid
    va, _ = surface_from_grid(grid_to_numpy(dense), 25.0)
    vb, _ = surface_from_grid(grid_to_numpy(fine), 25.0)
    voxel = 1.0 / resolution
    assert chamfer(va, vb) / voxel <= 0.5
    assert abs(va.shape[0] - vb.shape[0]) / va.shape[0] < 0.01


def test_coarse_factor_must_divide_resolution():
    with pytest.raises(ValueError, match="multiple of coarse_factor"):
        density_grid_coarse_to_fine(blobby_head_field(), 130, 25.0, coarse_factor=4)
