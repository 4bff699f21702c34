"""A tracked reconstruction on the timeline (bpy only): every frame is the same template mesh, so the
clip is one object `NAME`, its first frame the basis and each frame a shape key keyed to 1 on its own
timeline frame and 0 around it (CONSTANT), the head pose keyed as the object's transform. Nothing picks
meshes by name: renaming objects changes nothing, and motion blur sees the vertices move."""

import bpy
import numpy as np

from .importer import _make_constant, _matrix, build_mesh, ensure_camera, head_matrix, load_texture, make_material


def ensure_tracked(scene: bpy.types.Scene, name: str, frame: dict, texture_dir: str | None) -> bpy.types.Object:
    """The tracked object `NAME` (made from `frame`, the first to arrive, with its texture), found afterwards."""
    obj = bpy.data.objects.get(name)
    if obj is not None and obj.get("headfuse_tracked"):
        return obj
    if obj is not None:
        raise ValueError(f"{name}: a per-frame reconstruction of that name is in the scene; choose another name")
    root = bpy.data.collections.get(name)
    if root is None:
        root = bpy.data.collections.new(name)
        scene.collection.children.link(root)
    mesh = build_mesh(name, frame["vertices"], frame["faces"], frame.get("colors"), frame.get("uv"))
    png = frame.get("texture_png")
    mesh.materials.append(make_material(name, load_texture(name, png, texture_dir) if png else None))
    obj = bpy.data.objects.new(name, mesh)
    root.objects.link(obj)
    obj["headfuse_tracked"] = True
    obj["headfuse_key_frames"] = {}  # shape key name -> its timeline frame
    obj.shape_key_add(name="Basis", from_mix=False)
    ensure_camera(scene, name, root)
    return obj


def add_tracked_frame(scene: bpy.types.Scene, name: str, frame: dict, start_frame: int = 1,
                      texture_dir: str | None = None) -> bpy.types.ShapeKey:  # fmt: skip
    """Put one tracked frame on the timeline at `start_frame + index`: its shape key and its head pose."""
    obj = ensure_tracked(scene, name, frame, texture_dir)
    vertices = np.ascontiguousarray(frame["vertices"], dtype=np.float32)
    if len(vertices) != len(obj.data.vertices):
        raise ValueError(f"{name}: frame {frame['index']} has {len(vertices)} vertices, the tracked mesh "
                         f"{len(obj.data.vertices)}: was the job per-frame?")  # fmt: skip
    index = int(frame["index"])
    t = start_frame + index
    key_name = f"f{index:06d}"
    key = obj.data.shape_keys.key_blocks.get(key_name) or obj.shape_key_add(name=key_name, from_mix=False)
    key.data.foreach_set("co", vertices.ravel())
    obj["headfuse_key_frames"][key_name] = t
    _key_values(obj)
    obj.matrix_world = _matrix(head_matrix(frame.get("camera")))
    for path in ("location", "rotation_euler", "scale"):
        obj.keyframe_insert(path, frame=t)
    _make_constant(obj)
    frames = timeline_frames(obj)
    scene.frame_start, scene.frame_end = frames[0], frames[-1]
    return key


def timeline_frames(obj: bpy.types.Object) -> list[int]:
    """The timeline frames of a tracked object's frames, in order."""
    return sorted(int(t) for t in obj["headfuse_key_frames"].values())


def _key_values(obj: bpy.types.Object) -> None:
    """Key every frame's shape: 1 from its timeline frame until the next frame's, 0 elsewhere (CONSTANT), so a
    skipped frame holds the last shape, as the per-frame sequence holds the last mesh."""
    keys, at = obj.data.shape_keys, obj["headfuse_key_frames"]
    blocks = sorted((keys.key_blocks[name] for name in at.keys()), key=lambda k: at[k.name])
    keys.animation_data_clear()
    for i, block in enumerate(blocks):
        t = at[block.name]
        before = at[blocks[i - 1].name] if i else t - 1
        after = [at[blocks[i + 1].name]] if i + 1 < len(blocks) else []
        for when, value in ((before, 0.0), (t, 1.0), *((w, 0.0) for w in after)):
            block.value = value
            block.keyframe_insert("value", frame=when)
    _make_constant(keys)
