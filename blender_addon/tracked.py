"""A tracked reconstruction on the timeline (bpy only): every frame is the same template mesh, so the
clip is one object `NAME`, its first frame the basis and each frame a shape key keyed to 1 on its own
timeline frame and 0 around it (CONSTANT), the head pose keyed as the object's transform. Nothing picks
meshes by name: renaming objects changes nothing, and motion blur sees the vertices move."""

import bpy
import numpy as np

from .importer import _matrix, build_mesh, ensure_camera, head_matrix, load_texture, make_material, object_fcurves


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
                      texture_dir: str | None = None, latest_texture: bool = False) -> bpy.types.ShapeKey:  # fmt: skip
    """Put one tracked frame on the timeline at `start_frame + index`: its shape key and its head pose (the
    keys of the frame and of its neighbours in time only, not of every frame before). The head
    wears its first frame's texture, or with `latest_texture` each new frame's (the job option
    `texture_span` clip: the fusion of the clip so far)."""
    obj = ensure_tracked(scene, name, frame, texture_dir)
    if obj.get("headfuse_pca"):
        raise ValueError(f"{name}: its shapes are compressed to principal shapes; reconstruct into another name")
    index = int(frame["index"])
    if latest_texture and frame.get("texture_png") and obj.get("headfuse_texture_frame", index) < index:
        _wear_texture(obj, load_texture(name, frame["texture_png"], texture_dir))
    obj["headfuse_texture_frame"] = max(index, obj.get("headfuse_texture_frame", index))
    vertices = np.ascontiguousarray(frame["vertices"], dtype=np.float32)
    if len(vertices) != len(obj.data.vertices):
        raise ValueError(f"{name}: frame {frame['index']} has {len(vertices)} vertices, the tracked mesh "
                         f"{len(obj.data.vertices)}: was the job per-frame?")  # fmt: skip
    t = start_frame + index
    key_name = f"f{index:06d}"
    key = obj.data.shape_keys.key_blocks.get(key_name) or obj.shape_key_add(name=key_name, from_mix=False)
    key.data.foreach_set("co", vertices.ravel())
    obj["headfuse_key_frames"][key_name] = t
    _key_values(obj, key_name)
    obj.matrix_world = _matrix(head_matrix(frame.get("camera")))
    for path in ("location", "rotation_euler", "scale"):
        obj.keyframe_insert(path, frame=t)
    for curve in object_fcurves(obj):  # the new keys CONSTANT: scrubbing to frame t shows frame t exactly
        _constant_at(curve, t)
    frames = timeline_frames(obj)
    scene.frame_start, scene.frame_end = frames[0], frames[-1]
    return key


def _wear_texture(obj: bpy.types.Object, image: bpy.types.Image) -> None:
    """Put `image` in the tracked head's material in place of the one it had (which goes); a head made without
    a texture (vertex colours) keeps its material."""
    node = next((n for n in obj.data.materials[0].node_tree.nodes if n.bl_idname == "ShaderNodeTexImage"), None)
    if node is None:
        bpy.data.images.remove(image)
        return
    old, node.image = node.image, image
    if old is not None and old.users == 0:
        bpy.data.images.remove(old)


def timeline_frames(obj: bpy.types.Object) -> list[int]:
    """The timeline frames of a tracked object's frames, in order."""
    return sorted(int(t) for t in obj["headfuse_key_frames"].values())


def _constant_at(curve, t: int) -> None:
    """The key of `curve` on frame `t` CONSTANT (looked for from the end: the newest frame is usually last)."""
    points = curve.keyframe_points
    for i in range(len(points) - 1, -1, -1):
        if round(points[i].co.x) == t:
            points[i].interpolation = "CONSTANT"
            return


def _key_values(obj: bpy.types.Object, changed: str) -> None:
    """Key the shape `changed` and its neighbours in time: each shape 1 from its timeline frame until the
    next frame's, 0 elsewhere, so a skipped frame holds the last shape, as the per-frame sequence holds the
    last mesh."""
    keys, at = obj.data.shape_keys, obj["headfuse_key_frames"]
    order = sorted(at.keys(), key=lambda n: at[n])
    i = order.index(changed)
    for j in range(max(0, i - 1), min(len(order), i + 2)):
        block, t = keys.key_blocks[order[j]], at[order[j]]
        before = at[order[j - 1]] if j else t - 1
        after = [at[order[j + 1]]] if j + 1 < len(order) else []
        curve = _value_curve(keys, block.name)
        if curve is not None:
            curve.keyframe_points.clear()
        for when, value in ((before, 0.0), (t, 1.0), *((w, 0.0) for w in after)):
            block.value = value
            block.keyframe_insert("value", frame=when)
        for point in (curve or _value_curve(keys, block.name)).keyframe_points:
            point.interpolation = "CONSTANT"


def _value_curve(keys: bpy.types.Key, block: str):
    """The F-curve of a shape key's value, or None."""
    path = f'key_blocks["{block}"].value'
    return next((c for c in object_fcurves(keys) if c.data_path == path), None)
