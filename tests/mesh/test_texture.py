import numpy as np
import pytest
import torch

from backend.config import MeshConfig
from backend.mesh import mesh_from_field
from backend.mesh.build import field_colours
from backend.render.analytic import blobby_head_field
from backend.units import metres_to_box


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup, u repeating, v clamped, OpenGL origin (v up)."""
    size = texture.shape[0]
    x = uv[:, 0] * size - 0.5
    y = (1.0 - uv[:, 1]) * size - 0.5
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    tex = texture.astype(np.float64) / 255.0

    def at(yy, xx):
        return tex[np.clip(yy, 0, size - 1), xx % size]

    return (
        at(y0, x0) * (1 - fx) * (1 - fy)
        + at(y0, x0 + 1) * fx * (1 - fy)
        + at(y0 + 1, x0) * (1 - fx) * fy
        + at(y0 + 1, x0 + 1) * fx * fy
    )


@pytest.mark.parametrize("uv_mode", ["head", "xatlas"])
def test_baked_texture_equals_field_colour_at_surface_points(uv_mode):
    field = blobby_head_field()
    mesh = mesh_from_field(field, MeshConfig(resolution=64, texture_size=512, uv_mode=uv_mode))
    assert mesh.texture.shape == (512, 512, 3) and mesh.uv.shape == (mesh.vertices.shape[0], 2)
    rng = np.random.default_rng(0)
    faces = rng.choice(mesh.faces.shape[0], 2000)
    w = rng.dirichlet([2.0, 2.0, 2.0], size=2000)
    tri = mesh.faces[faces]
    points = np.einsum("kj,kjd->kd", w, mesh.vertices[tri])
    uv = np.einsum("kj,kjd->kd", w, mesh.uv[tri])
    baked = sample_texture(mesh.texture, uv)
    truth = field_colours(field, metres_to_box(points).astype(np.float32))
    err = np.abs(baked - truth)
    assert np.median(err) < 2.0 / 255.0
    assert np.percentile(err, 99) < 0.03


def test_head_layout_is_the_same_for_every_frame():
    # The head projection depends only on directions: the same point maps to the same uv.
    from backend.mesh.uv import head_projection_uv

    a = np.array([[0.0, 0.1, 0.3], [0.2, 0.0, 0.1], [0.1, 0.3, 0.0]], np.float32)
    _, _, uv1 = head_projection_uv(a, np.array([[0, 1, 2]]))
    _, _, uv2 = head_projection_uv(a * 1.3 + np.float32(0.0), np.array([[0, 1, 2]]))
    centre = np.array([0.0, 0.05, 0.0], np.float32)
    _, _, uv3 = head_projection_uv((a - centre) * 1.3 + centre, np.array([[0, 1, 2]]))
    assert np.allclose(uv1, uv3, atol=1e-6) and not np.allclose(uv1, uv2)
    front = head_projection_uv(np.array([[0.0, 0.05, 0.4]], np.float32), np.zeros((0, 3), int))[2]
    assert np.allclose(front, [[0.5, 0.5]])


def test_field_colours_shape():
    c = field_colours(blobby_head_field(), np.zeros((5, 3), np.float32))
    assert c.shape == (5, 3) and c.dtype == np.float32
    assert torch.is_tensor(torch.from_numpy(c))
