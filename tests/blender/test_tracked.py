"""A tracked clip in Blender: one object whose shape keys follow the frames, and exports that keep one
topology (real bpy; the fits are made by the real template fit on three synthetic people's fields)."""

import bpy
import numpy as np
import pytest
import torch

from backend.mesh.grid import density_grid_coarse_to_fine, grid_to_numpy
from backend.mesh.writers import png_bytes
from backend.render.field import SURFACE_DENSITY
from backend.synth.head import SynthHead
from backend.synth.identity import Identity
from backend.topology.fit import MeshGraph, fit_template, grid_density
from backend.topology.template import load_head_template
from backend.units import METRES_PER_BOX_UNIT, metres_to_box
from blender_addon import export, tracked
from tests.blender.conftest import evaluated

INDICES = (0, 1, 3)  # source frame 2 was skipped: frame 3 of the timeline holds frame 1's shape


@pytest.fixture(scope="module")
def frames():
    template = load_head_template()
    points = np.zeros((template.weld.max() + 1, 3), np.float32)
    points[template.weld] = metres_to_box(template.vertices)
    graph = MeshGraph(template.weld[template.faces], len(points))
    out = []
    for k, index in enumerate(INDICES):
        head = SynthHead(Identity.sample(20 + k))

        def field(p, head=head):
            flat = p.reshape(-1, 3)
            return head.density_from_sdf(head.sdf(flat)).reshape(*p.shape[:2], 1), torch.zeros(*p.shape[:2], 3)

        grid, _ = density_grid_coarse_to_fine(field, 64, SURFACE_DENSITY, coarse_factor=2, chunk=65536)
        points, _ = fit_template(grid_density(grid_to_numpy(grid)), points, graph)
        pose = np.eye(4)
        pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
        pose[:3, 3] = [0.05 * k, 0.0, 0.9]
        out.append({"index": index, "vertices": points[template.weld] * METRES_PER_BOX_UNIT, "faces": template.faces,
                    "colors": np.full((len(template.weld), 3), 200, np.uint8), "uv": template.uv,
                    "texture_png": png_bytes(np.full((32, 32, 3), 128, np.uint8)),
                    "camera": {"head_pose": pose.tolist()}})  # fmt: skip
    return out


def build(scene, frames):
    for f in frames:
        tracked.add_tracked_frame(scene, "head", f)


def expected(frames, t):
    return [f for f in frames if 1 + f["index"] <= t][-1]


def test_one_object_whose_shape_follows_each_frame_whatever_the_names(scene, frames):
    build(scene, frames)
    heads = [o for o in scene.objects if o.type == "MESH"]
    assert [o.name for o in heads] == ["head"] and (scene.frame_start, scene.frame_end) == (1, 4)
    for o in scene.objects:  # renaming anything changes nothing
        o.name = o.name + " renamed"
    for t in range(1, 5):
        co, world = evaluated(heads[0], scene, t)
        f = expected(frames, t)
        np.testing.assert_allclose(co, f["vertices"], atol=1e-5)
        assert abs(world[0, 3] - f["camera"]["head_pose"][0][3]) < 1e-4  # the head pose keyed as the transform


@pytest.mark.parametrize("fmt", ["abc", "usd", "fbx"])
def test_exports_keep_one_topology_and_each_frames_positions(scene, frames, tmp_path, fmt):
    build(scene, frames)
    path = str(tmp_path / f"head.{fmt}")
    {"abc": export.export_alembic, "usd": export.export_usd, "fbx": export.export_fbx}[fmt](scene, "head", path)
    abc_bytes = (tmp_path / "head.abc").stat().st_size if fmt == "abc" else None
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if fmt == "abc":
        bpy.ops.wm.alembic_import(filepath=path, as_background_job=False)
    elif fmt == "usd":
        bpy.ops.wm.usd_import(filepath=path)
    else:
        bpy.ops.import_scene.fbx(filepath=path)  # the importer's defaults
    (head,) = (o for o in scene.objects if o.type == "MESH")
    for t in range(1, 5):
        co, _ = evaluated(head, scene, t)
        assert len(co) == len(frames[0]["vertices"])  # the same vertex count on every frame
        local = np.asarray(expected(frames, t)["vertices"])
        if fmt != "fbx":  # FBX turns its axes into the object's transform: compare shapes by their spread
            np.testing.assert_allclose(co, local, atol=1e-4)
        else:
            np.testing.assert_allclose(np.sort(np.linalg.norm(co - co.mean(0), axis=1)),
                                       np.sort(np.linalg.norm(local - local.mean(0), axis=1)), atol=1e-4)  # fmt: skip
    if abc_bytes is not None:
        assert abc_bytes / len(frames) < 600_000  # points only, per frame (the topology is written once)
        # the texture comes back: Alembic's beside it, USD's and FBX's in the re-imported material
        assert (tmp_path / "head_textures" / "texture.png").read_bytes() == frames[0]["texture_png"]
    else:
        material = head.active_material
        images = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE" and n.image is not None]
        assert images and tuple(images[0].size) == (32, 32)


def test_with_the_clip_texture_the_head_wears_the_latest_frames(scene, frames):
    for k, f in enumerate(frames):  # each frame's texture a shade lighter: the clip's fusion so far
        png = png_bytes(np.full((32, 32, 3), 60 * k, np.uint8))
        tracked.add_tracked_frame(scene, "head", {**f, "texture_png": png}, latest_texture=True)
    obj = bpy.data.objects["head"]
    (node,) = (n for n in obj.data.materials[0].node_tree.nodes if n.bl_idname == "ShaderNodeTexImage")
    pixels = np.array(node.image.pixels[:]).reshape(32, 32, 4)
    assert abs(pixels[..., 0].mean() - 120 / 255) < 0.02  # the last frame's (sRGB values as stored)
    assert len([i for i in bpy.data.images if i.name.startswith("head")]) == 1  # the earlier ones are gone


def test_motion_blur_sees_the_shape_change_between_frames(scene, frames):
    build(scene, frames)
    head = bpy.data.objects["head"]
    opening, _ = evaluated(head, scene, 1, subframe=0.75)  # where a shutter centred on frame 2 opens
    np.testing.assert_allclose(opening, frames[0]["vertices"], atol=1e-5)  # still frame 1's shape
    co, _ = evaluated(head, scene, 2)
    np.testing.assert_allclose(co, frames[1]["vertices"], atol=1e-5)  # and frame 2's on the frame
