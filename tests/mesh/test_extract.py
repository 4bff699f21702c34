import numpy as np
import pytest
import torch
import trimesh

from backend.config import MeshConfig
from backend.mesh import EmptySurfaceError, mesh_from_field
from backend.mesh.extract import largest_component, marching_cubes
from backend.mesh.grid import density_grid_dense, grid_to_numpy
from backend.render.analytic import sphere_field
from backend.units import METRES_PER_BOX_UNIT


def test_sphere_volume_radius_and_watertight():
    grid = grid_to_numpy(density_grid_dense(sphere_field(0.3, 0.004, 50.0), 128))
    verts, faces = marching_cubes(grid, 25.0)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    assert mesh.is_watertight
    assert mesh.volume > 0  # faces point outwards
    expect = 4.0 / 3.0 * np.pi * 0.3**3
    assert abs(mesh.volume - expect) / expect < 0.01
    assert abs(np.linalg.norm(verts, axis=1).mean() - 0.3) / 0.3 < 0.01


def test_largest_component_drops_floaters():
    big, small = trimesh.creation.icosphere(3, 0.3), trimesh.creation.icosphere(1, 0.05)
    small.apply_translation([0.4, 0.0, 0.0])
    both = trimesh.util.concatenate([big, small])
    v, f = largest_component(np.asarray(both.vertices), np.asarray(both.faces))
    assert f.shape[0] == big.faces.shape[0] and v.shape[0] == big.vertices.shape[0]
    assert np.abs(np.linalg.norm(v, axis=1) - 0.3).max() < 1e-6


def test_mesh_is_in_metres():
    mesh = mesh_from_field(sphere_field(0.3, 0.004, 50.0), MeshConfig(resolution=64, texture_size=0))
    r = np.linalg.norm(mesh.vertices, axis=1).mean()
    assert abs(r - 0.3 * METRES_PER_BOX_UNIT) < 0.01 * 0.3 * METRES_PER_BOX_UNIT
    assert mesh.colors.dtype == np.uint8 and mesh.uv is None


def test_empty_surface_is_a_clear_error():
    def empty(p):
        return torch.zeros(p.shape[:-1] + (1,)), torch.zeros(p.shape[:-1] + (3,))

    with pytest.raises(EmptySurfaceError, match="never crosses the iso-level 25"):
        mesh_from_field(empty, MeshConfig(resolution=16))


def test_nan_field_is_a_clear_error():
    def broken(p):
        return torch.full(p.shape[:-1] + (1,), float("nan")), torch.zeros(p.shape[:-1] + (3,))

    with pytest.raises(ValueError, match="NaN"):
        mesh_from_field(broken, MeshConfig(resolution=16))
