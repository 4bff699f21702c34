"""Grid evaluation, marching cubes, clean-up, UV layout, texture baking and writers.

Knows nothing of networks: it takes a field (see `backend.render.field`)."""

from backend.mesh.build import mesh_from_field
from backend.mesh.extract import EmptySurfaceError
from backend.mesh.types import Mesh
from backend.mesh.writers import write_glb, write_mesh, write_obj, write_ply

__all__ = ["EmptySurfaceError", "Mesh", "mesh_from_field", "write_glb", "write_mesh", "write_obj", "write_ply"]
