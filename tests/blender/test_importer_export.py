"""Frames on the timeline and what survives Alembic, USD, FBX and a saved .blend (real bpy)."""

import bpy
import numpy as np
import pytest

from backend.config import MeshConfig
from backend.mesh import mesh_from_field
from backend.mesh.writers import png_bytes
from backend.render.analytic import blobby_head_field
from blender_addon import export, importer

FRAMES = (0, 1, 3)  # source frame 2 was skipped: the timeline holds frame 1's head there


@pytest.fixture(scope="module")
def frames():
    out = []
    for k, index in enumerate(FRAMES):
        mesh = mesh_from_field(blobby_head_field(smile=k / 2), MeshConfig(resolution=24 + 8 * k, texture_size=32))
        pose = np.eye(4)
        pose[:3, :3] = np.diag([1.0, -1.0, -1.0])  # the face looks at the camera
        pose[:3, 3] = [0.05 * k, 0.0, 0.9]
        out.append(
            {
                "index": index,
                "vertices": mesh.vertices,
                "faces": mesh.faces,
                "colors": mesh.colors,
                "uv": mesh.uv,
                "texture_png": png_bytes(mesh.texture),
                "camera": {"head_pose": pose.tolist()},
            }
        )
    return out


def expected(frames, t):
    """(vertex count, x translation) that timeline frame t (start 1) must show."""
    shown = [f for f in frames if 1 + f["index"] <= t]
    f = shown[-1]
    return len(f["vertices"]), f["camera"]["head_pose"][0][3]


def build(scene, frames):
    scene.frame_start, scene.frame_end = 1, 4
    for f in frames:
        importer.add_frame(scene, "head", f)


def evaluated_mesh_stats(obj, scene, t):
    scene.frame_set(t)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    me = ev.to_mesh()
    n = len(me.vertices)
    ev.to_mesh_clear()
    return n, ev.matrix_world.translation.x


def test_scrubbing_shows_each_frames_head(scene, frames):
    build(scene, frames)
    seq = bpy.data.objects["head"]
    for t in range(1, 5):
        n, x = evaluated_mesh_stats(seq, scene, t)
        assert (n, round(x, 4)) == (lambda e: (e[0], round(e[1], 4)))(expected(frames, t))
        visible = [o for o in bpy.data.collections["head frames"].objects if o.scale[0] > 0.5]
        assert [o["headfuse_frame"] for o in visible] == ([t - 1] if t - 1 in FRAMES else [])
    head = bpy.data.objects[importer.frame_object_name("head", 0)]
    assert head.data.uv_layers.keys() == ["UVMap"] and "Col" in head.data.color_attributes
    assert head.active_material.node_tree.nodes.get("Image Texture").image.size[:] == (32, 32)
    # The head sits in front of the plate camera (world +y), upright.
    assert head.matrix_world.translation.y > 0.5


@pytest.mark.parametrize("fmt", ["abc", "usdc"])
def test_alembic_and_usd_keep_per_frame_geometry_and_pose(scene, frames, tmp_path, fmt):
    build(scene, frames)
    path = str(tmp_path / f"head.{fmt}")
    (export.export_alembic if fmt == "abc" else export.export_usd)(scene, "head", path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if fmt == "abc":
        bpy.ops.wm.alembic_import(filepath=path, as_background_job=False)
    else:
        bpy.ops.wm.usd_import(filepath=path)
    meshes = [o for o in scene.objects if o.type == "MESH"]
    assert len(meshes) == 1
    for t in range(1, 5):
        n, x = evaluated_mesh_stats(meshes[0], scene, t)
        assert n == expected(frames, t)[0] and abs(x - expected(frames, t)[1]) < 1e-4
    ev = meshes[0].evaluated_get(bpy.context.evaluated_depsgraph_get())
    assert "Col" in ev.to_mesh().color_attributes  # vertex colours travel too (as corner colours)
    ev.to_mesh_clear()
    if fmt == "abc":  # the textures beside it, one per timeline frame, frame 3 holding frame 2's (source 1)
        folder = tmp_path / "head_textures"
        files = sorted(p.name for p in folder.glob("*.png"))
        assert files == [f"texture.{t:04d}.png" for t in range(1, 5)]
        assert (folder / "texture.0003.png").read_bytes() == (folder / "texture.0002.png").read_bytes()
        assert (folder / "texture.0004.png").read_bytes() == frames[2]["texture_png"]
    if fmt == "usd":  # a UsdPreviewSurface material with the texture, re-imported with the importer's defaults
        material = meshes[0].material_slots[0].material
        images = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE" and n.image is not None]
        assert images and images[0].size[0] == 32


def test_after_the_last_frame_the_sequence_shows_what_the_frame_objects_show(scene, frames):
    build(scene, frames)
    seq = bpy.data.objects["head"]
    n, _ = evaluated_mesh_stats(seq, scene, 5)  # the last head is on timeline frame 4
    visible = [o for o in bpy.data.collections["head frames"].objects if o.matrix_world.to_scale()[0] > 0.5]
    assert n == 0 and visible == []
    assert (scene.frame_start, scene.frame_end) == (1, 4)


def test_fbx_keeps_one_object_per_frame_with_visibility_keys(scene, frames, tmp_path):
    build(scene, frames)
    path = str(tmp_path / "head.fbx")

    def keys():
        curves = importer.object_fcurves(bpy.data.objects["head_f000000"])
        return [tuple(p.co) for c in curves for p in c.keyframe_points]

    before = keys()
    export.export_fbx(scene, "head", path)
    assert bpy.data.collections["head frames"].hide_viewport  # the export restored the rig
    assert (scene.frame_start, scene.frame_end) == (1, 4) and keys() == before  # and its keys
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.import_scene.fbx(filepath=path)  # the importer's defaults (anim_offset=1): frame-exact all the same
    meshes = [o for o in scene.objects if o.type == "MESH"]
    assert len(meshes) == len(FRAMES)
    for o in meshes:  # each keeps its material and embedded texture
        nodes = o.material_slots[0].material.node_tree.nodes
        assert any(n.type == "TEX_IMAGE" and n.image is not None and n.image.size[0] == 32 for n in nodes)
    for t in range(1, 5):
        scene.frame_set(t)
        visible = [o for o in meshes if o.matrix_world.to_scale()[0] > 0.5]
        if t - 1 in FRAMES:
            assert len(visible) == 1 and len(visible[0].data.vertices) == expected(frames, t)[0]
        else:
            assert visible == []


def test_saved_blend_reopens_and_still_scrubs(scene, frames, tmp_path):
    build(scene, frames)
    path = str(tmp_path / "head.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=path)
    scene = bpy.context.scene
    for t in range(1, 5):
        n, _ = evaluated_mesh_stats(bpy.data.objects["head"], scene, t)
        assert n == expected(frames, t)[0]
    assert bpy.data.images[importer.frame_object_name("head", 0)].packed_file is not None


def _sequence_keys(seq):
    """Every key of the sequence object: {(data path, index): [(frame, value, interpolation)]}."""
    return {
        (fc.data_path, fc.array_index): [(round(p.co[0], 3), round(p.co[1], 5), p.interpolation)
                                          for p in fc.keyframe_points]
        for fc in importer.object_fcurves(seq)
    }  # fmt: skip


def test_frames_streamed_in_order_are_keyed_as_a_rebuild_keys_them(scene, frames):
    """The per-frame append (a stream in frame order, with a skipped frame) against the full rebuild."""
    build(scene, frames)
    seq = bpy.data.objects["head"]
    appended = _sequence_keys(seq)
    importer.rebuild_sequence(scene, "head")
    assert appended == _sequence_keys(seq)
    instance = next(v for (path, _), v in appended.items() if path.startswith("modifiers"))
    assert [(t, k) for t, k, _ in instance] == [(0, -1), (1, 0), (2, 1), (4, 2), (5, -1)]


def test_a_frame_that_arrives_out_of_order_takes_its_place_on_the_timeline(scene, frames):
    scene.frame_start, scene.frame_end = 1, 4
    for f in (frames[0], frames[2], frames[1]):  # a worker's frame 1 after frame 3
        importer.add_frame(scene, "head", f)
    seq = bpy.data.objects["head"]
    for t in range(1, 6):
        assert evaluated_mesh_stats(seq, scene, t)[0] == (expected(frames, t)[0] if t <= 4 else 0)
