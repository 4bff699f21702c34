"""Blender import benchmark (runs under bpy): frames per second building 20k-vertex heads.

The add-on's attribute path (`blender_addon.importer.build_mesh`: `foreach_set` on position,
corner vertices, loop starts, UVs and byte colours) against `Mesh.from_pydata` with the same
geometry, in the same run. A frame is a mesh of the analytic head at about 20k vertices.
"""

import time

import numpy as np

FRAMES = 30


def _head_mesh():
    from backend.config import MeshConfig
    from backend.mesh import mesh_from_field
    from backend.render.analytic import blobby_head_field

    return mesh_from_field(blobby_head_field(), MeshConfig(resolution=112, texture_size=64))


def run(args) -> dict:
    import bpy  # first: it puts Blender's own modules (addon_utils) on the path

    # isort: split
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    build_mesh = addon_utils.enable("blender_addon", default_set=True, handle_error=None).importer.build_mesh
    mesh = _head_mesh()
    frames = 8 if args.quick else FRAMES
    verts, faces = mesh.vertices, mesh.faces

    t0 = time.perf_counter()
    for i in range(frames):
        build_mesh(f"attr{i}", verts, faces, mesh.colors, mesh.uv)
    attr_s = time.perf_counter() - t0

    vlist, flist = verts.tolist(), faces.tolist()
    t0 = time.perf_counter()
    for i in range(frames):
        me = bpy.data.meshes.new(f"pydata{i}")
        me.from_pydata(vlist, [], flist)
        me.update()
    pydata_s = time.perf_counter() - t0
    geometry_only = np.mean([len(m.vertices) for m in bpy.data.meshes if m.name.startswith("attr")])
    return {
        "vertices": int(verts.shape[0]),
        "faces": int(faces.shape[0]),
        "frames": frames,
        "import_fps": round(frames / attr_s, 2),
        "from_pydata_fps": round(frames / pydata_s, 2),
        "speedup_vs_from_pydata": round(pydata_s / attr_s, 2),
        "note": "attribute path includes UVs and per-vertex byte colours; from_pydata builds geometry only",
        "check_vertices": int(geometry_only),
    }
