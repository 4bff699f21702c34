"""Blender import benchmark (runs under bpy): frames per second building 20k-vertex heads, and what a
tracked clip costs against a per-frame one.

The add-on's attribute path (`blender_addon.importer.build_mesh`: `foreach_set` on position,
corner vertices, loop starts, UVs and byte colours) against `Mesh.from_pydata` with the same
geometry, in the same run. A frame is a mesh of the analytic head at about 20k vertices.

Tracked (`tracked_*`): `TRACKED_FRAMES` frames of the head template, moving, through the add-on's
`tracked.add_tracked_frame` (no textures): the seconds that takes and the size of the saved .blend; then
the Alembic export of `ALEMBIC_FRAMES` of them against the same number of per-frame marching-cubes heads at
128^3 through `importer.add_frame`, in bytes per frame.

Per-frame stream (`stream_*`): `STREAM_FRAMES` one-triangle frames through `importer.add_frame` in frame
order, so that only the keying of the timeline is timed: the last hundred frames' cost against the first
hundred's (1.0: each frame costs the same however long the clip), and against re-keying the whole
sequence once at the end (`importer.rebuild_sequence`, what each frame would cost if it re-keyed them all).
"""

import time

import numpy as np

FRAMES = 30
TRACKED_FRAMES = 300
"""Frames of the tracked import (the issue's clip length)."""
ALEMBIC_FRAMES = 12
"""Frames of both Alembic exports (the demo's length)."""
STREAM_FRAMES = 1000
"""Frames of the per-frame stream (`stream_*`): a 40 s clip at 25 fps."""


def _moving(vertices: np.ndarray, k: int) -> np.ndarray:
    """`vertices [V, 3]` on frame k: a small jaw-like sway below the middle and a breath that moves every
    vertex, so no two frames share a value (nothing for the .blend's compression to find)."""
    out = vertices * np.float32(1 + 0.002 * np.sin(0.2 * k + 0.1))
    low = out[:, 1] < np.median(out[:, 1])
    out[low, 1] += 0.004 * np.sin(0.3 * k) * (np.median(out[:, 1]) - out[low, 1]) / 0.1
    return out


def _pose(k: int) -> dict:
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = [0.01 * np.sin(0.1 * k), 0.0, 0.9]
    return {"head_pose": pose.tolist()}


def _tracked(quick: bool, tmp: str, addon) -> dict:
    """The tracked figures (see the module docstring); `addon`: the enabled add-on's package."""
    import os

    import bpy

    from backend.config import MeshConfig
    from backend.mesh import mesh_from_field
    from backend.render.analytic import blobby_head_field
    from backend.render.field import SURFACE_DENSITY
    from backend.topology.template import load_head_template

    export, importer, tracked = addon.export, addon.importer, addon.tracked

    t = load_head_template()
    frames = 60 if quick else TRACKED_FRAMES
    colours = np.full((len(t.vertices), 3), 200, np.uint8)
    clip = [{"index": k, "vertices": _moving(t.vertices, k), "faces": t.faces, "colors": colours, "uv": t.uv,
             "camera": _pose(k)} for k in range(frames)]  # fmt: skip
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    t0 = time.perf_counter()
    for f in clip:
        tracked.add_tracked_frame(scene, "tracked", f)
    import_s = time.perf_counter() - t0
    blend = os.path.join(tmp, "tracked.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend, copy=True)
    sizes = {}
    abc = os.path.join(tmp, "tracked.abc")
    export.export_alembic(scene, "tracked", abc, frames=(1, ALEMBIC_FRAMES), textures=False)
    sizes["tracked"] = os.path.getsize(abc) / ALEMBIC_FRAMES
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    field = blobby_head_field()
    for k in range(ALEMBIC_FRAMES):  # each frame its own marching cubes, as a per-frame job makes them
        level = SURFACE_DENSITY * (1 + 0.01 * k)
        head = mesh_from_field(field, MeshConfig(resolution=128, texture_size=0, iso_level=level))
        importer.add_frame(scene, "perframe", {"index": k, "vertices": head.vertices, "faces": head.faces,
                                               "colors": head.colors, "uv": head.uv, "camera": _pose(k)})  # fmt: skip
    abc = os.path.join(tmp, "perframe.abc")
    export.export_alembic(scene, "perframe", abc, frames=(1, ALEMBIC_FRAMES), textures=False)
    sizes["per_frame"] = os.path.getsize(abc) / ALEMBIC_FRAMES
    return {
        "tracked_vertices": int(len(t.vertices)),
        "tracked_frames": frames,
        "tracked_import_s": round(import_s, 2),
        "tracked_import_ms_per_frame": round(import_s * 1000 / frames, 2),
        "tracked_blend_mb": round(os.path.getsize(blend) / 2**20, 2),
        "per_frame_vertices": int(len(head.vertices)),
        "alembic_kb_per_frame_tracked": round(sizes["tracked"] / 1024, 1),
        "alembic_kb_per_frame_per_frame": round(sizes["per_frame"] / 1024, 1),
        "alembic_size_ratio": round(sizes["tracked"] / sizes["per_frame"], 4),
        "tracked_note": "no textures; the per-frame heads are marching cubes of the analytic head at 128^3, "
                        "each frame at an iso-level 1 % further (its own vertex count, as real frames)",
    }


def _stream(quick: bool, addon) -> dict:
    """The per-frame stream figures (see the module docstring)."""
    import bpy

    importer = addon.importer
    frames = 200 if quick else STREAM_FRAMES
    vertices, faces = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], np.float32), np.array([[0, 1, 2]], np.int32)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    cost = []
    for k in range(frames):
        t0 = time.perf_counter()
        importer.add_frame(scene, "stream", {"index": k, "vertices": vertices, "faces": faces, "camera": _pose(k)})
        cost.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    importer.rebuild_sequence(scene, "stream")
    rebuild_s = time.perf_counter() - t0
    early, late = np.mean(cost[:100]), np.mean(cost[-100:])
    return {
        "stream_frames": frames,
        "stream_import_s": round(sum(cost), 2),
        "stream_ms_per_frame_first_100": round(early * 1000, 3),
        "stream_ms_per_frame_last_100": round(late * 1000, 3),
        "stream_late_vs_early": round(late / early, 2),
        "stream_rekey_all_ms": round(rebuild_s * 1000, 1),
        "stream_late_vs_rekey_all": round(late / rebuild_s, 4),
    }


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
    addon = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    build_mesh = addon.importer.build_mesh
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
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tracked_figures = _tracked(args.quick, tmp, addon)
    stream_figures = _stream(args.quick, addon)
    return {
        "vertices": int(verts.shape[0]),
        "faces": int(faces.shape[0]),
        "frames": frames,
        "import_fps": round(frames / attr_s, 2),
        "from_pydata_fps": round(frames / pydata_s, 2),
        "speedup_vs_from_pydata": round(pydata_s / attr_s, 2),
        "note": "attribute path includes UVs and per-vertex byte colours; from_pydata builds geometry only",
        "check_vertices": int(geometry_only),
        **tracked_figures,
        **stream_figures,
    }
