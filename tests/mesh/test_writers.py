import numpy as np
import pytest
import trimesh

from backend.config import MeshConfig
from backend.mesh import mesh_from_field, write_mesh
from backend.render.analytic import blobby_head_field


@pytest.fixture(scope="module")
def mesh():
    return mesh_from_field(blobby_head_field(), MeshConfig(resolution=48, texture_size=64))


def load_single(path):
    loaded = trimesh.load(path, process=False)
    if isinstance(loaded, trimesh.Scene):
        assert len(loaded.geometry) == 1
        loaded = next(iter(loaded.geometry.values()))
    return loaded


@pytest.mark.parametrize("ext", ["ply", "obj", "glb"])
def test_written_files_read_back_equal(mesh, tmp_path, ext):
    path = write_mesh(mesh, tmp_path / f"head.{ext}")
    back = load_single(path)
    assert np.allclose(back.vertices, mesh.vertices, atol=1e-5)
    assert (np.asarray(back.faces) == mesh.faces).all()
    assert np.allclose(back.visual.uv, mesh.uv, atol=1e-5)
    if ext == "obj":
        assert (np.asarray(back.visual.material.image.convert("RGB")) == mesh.texture).all()
    if ext == "glb":
        assert (np.asarray(back.visual.material.baseColorTexture.convert("RGB")) == mesh.texture).all()
    if ext == "ply":
        raw = back.metadata["_ply_raw"]["vertex"]["data"]
        assert (np.stack([raw["red"], raw["green"], raw["blue"]], 1) == mesh.colors).all()


def test_untextured_glb_carries_vertex_colours(tmp_path):
    plain = mesh_from_field(blobby_head_field(), MeshConfig(resolution=32, texture_size=0))
    back = load_single(write_mesh(plain, tmp_path / "plain.glb"))
    assert (np.asarray(back.visual.vertex_attributes["color"])[:, :3] == plain.colors).all()


def test_unknown_extension_is_explained(mesh, tmp_path):
    with pytest.raises(ValueError, match="supported mesh formats are glb, obj, ply"):
        write_mesh(mesh, tmp_path / "head.stl")
