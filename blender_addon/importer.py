"""Put reconstructed frames on the Blender timeline (bpy only; no backend imports).

A frame is a dict: `index` (source frame), `vertices` float32 `[V, 3]` (metres, canonical head
frame: y up, face towards +z), `faces` int32 `[F, 3]`, `colors` uint8 `[V, 3]`, `uv` float32
`[V, 2]` or None, `texture_png` bytes or None, `camera` dict (`head_pose` `[4, 4]`: the head in the
plate camera's OpenCV frame, metres; `source_intrinsics` `[3, 3]` pixels).

Two forms are kept in step, each surviving a different exchange format:
- one object per frame in the collection `<name> frames`, visible only on its own frame through
  CONSTANT scale keys 0/1 (survives FBX);
- one `<name>` sequence object whose Geometry Nodes modifier picks the frame's mesh from that
  collection by the scene frame (survives Alembic, USD and a saved .blend, no handler needed).
The head pose is keyed on both as the object transform; the plate camera sits at the origin.
"""

import bpy
import numpy as np

from .wire import conventions

# Blender world is z up; our head frame is y up: the rig turns y-up content upright.
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0, 0], [0, 0, -1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]])


def build_mesh(
    name: str, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None, uv: np.ndarray | None = None
) -> bpy.types.Mesh:
    """A mesh datablock through the attribute API (`foreach_set`, far faster than `from_pydata`).

    vertices `[V, 3]` float32, faces `[F, 3]` int, colors `[V, 3]` uint8 (a per-vertex byte colour `Col`),
    uv `[V, 2]` (stored per corner as `UVMap`). Faces are smooth-shaded (no `sharp_face` attribute).
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    v, f = vertices.shape[0], faces.shape[0]
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(v)
    mesh.loops.add(3 * f)
    mesh.polygons.add(f)
    mesh.attributes["position"].data.foreach_set("vector", vertices.ravel())
    mesh.attributes[".corner_vert"].data.foreach_set("value", faces.ravel())
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * f, 3, dtype=np.int32))
    mesh.update(calc_edges=True)
    corners = faces.ravel()
    if uv is not None:
        layer = mesh.uv_layers.new(name="UVMap")
        layer.uv.foreach_set("vector", np.ascontiguousarray(uv, dtype=np.float32)[corners].ravel())
    if colors is not None:
        attr = mesh.color_attributes.new("Col", "BYTE_COLOR", "POINT")  # per vertex: 6x less to copy than per corner
        rgba = np.concatenate([np.asarray(colors, np.float32) / 255.0, np.ones((v, 1), np.float32)], axis=1)
        attr.data.foreach_set("color_srgb", rgba.ravel())
        mesh.color_attributes.active_color = attr
    return mesh


def frame_object_name(name: str, index: int) -> str:
    """Name of the per-frame object of source frame `index` (zero-padded: name order is frame order)."""
    return f"{name}_f{index:06d}"


def _make_constant(obj) -> None:
    """Every key of the object CONSTANT: scrubbing to frame t shows frame t exactly, no blending."""
    for fcurve in object_fcurves(obj):
        for point in fcurve.keyframe_points:
            point.interpolation = "CONSTANT"


def object_fcurves(obj):
    """The F-curves of an object's action (Blender 4.4+ channel bags, or the legacy list)."""
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return []
    try:
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        bag = action_get_channelbag_for_slot(ad.action, ad.action_slot)
        return list(bag.fcurves) if bag is not None else []
    except ImportError:  # Blender before 4.4
        return list(ad.action.fcurves)


def make_material(name: str, image: bpy.types.Image | None) -> bpy.types.Material:
    """A material that shows the baked texture (or the vertex colours when there is no texture)."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes.get("Principled BSDF")
    bsdf.inputs["Roughness"].default_value = 0.7
    if image is not None:
        tex = nodes.new("ShaderNodeTexImage")
        tex.image = image
        tex.extension = "REPEAT"  # the head layout's seam wraps around in u
        uvmap = nodes.new("ShaderNodeUVMap")
        uvmap.uv_map = "UVMap"
        links.new(uvmap.outputs["UV"], tex.inputs["Vector"])
        links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    else:
        col = nodes.new("ShaderNodeVertexColor")
        col.layer_name = "Col"
        links.new(col.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def load_texture(name: str, png: bytes, folder: str | None) -> bpy.types.Image:
    """The frame's PNG texture as an image: saved as `folder/name.png` when a folder is given
    (next to the .blend), packed into the .blend otherwise."""
    import os
    import tempfile

    if folder:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.png")
        with open(path, "wb") as f:
            f.write(png)
        image = bpy.data.images.load(path, check_existing=False)
        image.name = name
        return image
    with tempfile.TemporaryDirectory() as tmp:  # named as the image: exporters write packed images by that name
        path = os.path.join(tmp, f"{bpy.path.clean_name(name)}.png")
        with open(path, "wb") as f:
            f.write(png)
        image = bpy.data.images.load(path, check_existing=False)
        image.pack()
        image.filepath = ""
        image.name = name
    return image


SEQUENCE_GROUP = "headfuse sequence"


def _sequence_node_group() -> bpy.types.NodeTree:
    """Geometry Nodes: realize only the instance `Instance` of the frames collection (-1: nothing)."""
    group = bpy.data.node_groups.get(SEQUENCE_GROUP)
    if group is not None:
        return group
    group = bpy.data.node_groups.new(SEQUENCE_GROUP, "GeometryNodeTree")
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    group.interface.new_socket("Frames", in_out="INPUT", socket_type="NodeSocketCollection")
    group.interface.new_socket("Instance", in_out="INPUT", socket_type="NodeSocketInt")
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = group.nodes, group.links
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    info = nodes.new("GeometryNodeCollectionInfo")
    info.transform_space = "ORIGINAL"
    info.inputs["Separate Children"].default_value = True
    info.inputs["Reset Children"].default_value = True
    index = nodes.new("GeometryNodeInputIndex")
    compare = nodes.new("FunctionNodeCompare")
    compare.data_type = "INT"
    compare.operation = "NOT_EQUAL"
    delete = nodes.new("GeometryNodeDeleteGeometry")
    delete.domain = "INSTANCE"
    realize = nodes.new("GeometryNodeRealizeInstances")
    # Per-vertex colours become per-corner byte colours: the form Alembic carries (and re-imports).
    colour = nodes.new("GeometryNodeInputNamedAttribute")
    colour.data_type = "FLOAT_COLOR"
    colour.inputs["Name"].default_value = "Col"
    store = nodes.new("GeometryNodeStoreNamedAttribute")
    store.data_type = "BYTE_COLOR"
    store.domain = "CORNER"
    store.inputs["Name"].default_value = "Col"
    links.new(gin.outputs["Frames"], info.inputs["Collection"])
    links.new(index.outputs["Index"], compare.inputs[2])
    links.new(gin.outputs["Instance"], compare.inputs[3])
    links.new(info.outputs["Instances"], delete.inputs["Geometry"])
    links.new(compare.outputs["Result"], delete.inputs["Selection"])
    links.new(delete.outputs["Geometry"], realize.inputs["Geometry"])
    links.new(realize.outputs["Geometry"], store.inputs["Geometry"])
    links.new(colour.outputs["Attribute"], store.inputs["Value"])
    links.new(store.outputs["Geometry"], gout.inputs["Geometry"])
    return group


def ensure_rig(scene: bpy.types.Scene, name: str) -> dict:
    """The collections and objects of one reconstruction (made on first use, found afterwards):
    `collection` (everything), `frames` (per-frame objects; None for a tracked one), `sequence` (the GN
    object, or the tracked object whose shape keys follow the frames), `camera`."""
    root = bpy.data.collections.get(name)
    if root is None:
        root = bpy.data.collections.new(name)
        scene.collection.children.link(root)
    tracked = bpy.data.objects.get(name)
    if tracked is not None and tracked.get("headfuse_tracked"):
        return {"collection": root, "frames": None, "sequence": tracked, "camera": ensure_camera(scene, name, root)}
    frames = bpy.data.collections.get(f"{name} frames")
    if frames is None:
        frames = bpy.data.collections.new(f"{name} frames")
        root.children.link(frames)
        # The sequence object shows the frames; their own objects stay hidden (FBX export unhides them).
        frames.hide_viewport = True
        frames.hide_render = True
    seq = bpy.data.objects.get(name)
    if seq is None:
        seq = bpy.data.objects.new(name, bpy.data.meshes.new(f"{name} sequence"))
        root.objects.link(seq)
        mod = seq.modifiers.new("headfuse sequence", "NODES")
        mod.node_group = _sequence_node_group()
        mod[_socket_id(mod, "Frames")] = frames
        mod[_socket_id(mod, "Instance")] = -1
    return {"collection": root, "frames": frames, "sequence": seq, "camera": ensure_camera(scene, name, root)}


def ensure_camera(scene: bpy.types.Scene, name: str, root: bpy.types.Collection) -> bpy.types.Object:
    """The reconstruction's plate camera `NAME camera` (made on first use at the origin, and made active)."""
    cam = bpy.data.objects.get(f"{name} camera")
    if cam is None:
        cam = bpy.data.objects.new(f"{name} camera", bpy.data.cameras.new(f"{name} camera"))
        root.objects.link(cam)
        cam.matrix_world = _matrix(PLATE_CAMERA)
        scene.camera = cam
    return cam


def _socket_id(mod, name: str) -> str:
    return next(
        item.identifier for item in mod.node_group.interface.items_tree if item.name == name and item.in_out == "INPUT"
    )


# The plate camera at the origin, looking along world +y with world +z up.
PLATE_CAMERA = np.array([[1.0, 0, 0, 0], [0, 0, -1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]])


def _matrix(m: np.ndarray):
    from mathutils import Matrix

    return Matrix([list(map(float, row)) for row in np.asarray(m)])


def head_matrix(camera: dict | None) -> np.ndarray:
    """World matrix `[4, 4]` of a head: plate camera @ (OpenCV -> Blender camera axes) @ head pose."""
    if not camera or "head_pose" not in camera:
        return Y_UP_TO_Z_UP
    return PLATE_CAMERA @ conventions.CV_TO_BLENDER @ np.asarray(camera["head_pose"], dtype=np.float64)


def set_plate_camera(cam: bpy.types.Object, camera: dict, width: int, height: int, scene: bpy.types.Scene) -> None:
    """Solved intrinsics (pixels) -> Blender lens, sensor and shifts; the render size follows the plate."""
    K = np.asarray(camera["source_intrinsics"], dtype=np.float64)
    data = cam.data
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = 36.0
    data.lens = K[0, 0] / width * 36.0
    data.shift_x = -(K[0, 2] - width / 2.0) / max(width, height)
    data.shift_y = (K[1, 2] - height / 2.0) / max(width, height)
    data.clip_start, data.clip_end = 0.01, 100.0
    scene.render.resolution_x, scene.render.resolution_y = int(width), int(height)


def set_plate_background(cam: bpy.types.Object, video_path: str, scene: bpy.types.Scene, start_frame: int = 1):
    """Make the scene match the clip and show it behind the head through the plate camera: the camera is
    the scene's active one, the scene plays at the clip's frame rate, and the clip's first frame (source
    frame 0) is on timeline frame `start_frame`, where the heads start. Returns the movie clip; raises
    RuntimeError for a video Blender cannot play."""
    clip = bpy.data.movieclips.load(video_path, check_existing=True)
    clip.frame_start = start_frame
    if clip.fps > 0:
        scene.render.fps = max(1, round(clip.fps))
        scene.render.fps_base = scene.render.fps / clip.fps  # 29.97 plays as 30 / 1.001
    data = cam.data
    data.show_background_images = True
    bg = data.background_images[0] if len(data.background_images) else data.background_images.new()
    bg.source = "MOVIE_CLIP"
    bg.clip = clip
    bg.alpha = 1.0
    scene.camera = cam
    return clip


def add_frame(
    scene: bpy.types.Scene, name: str, frame: dict, start_frame: int = 1, texture_dir: str | None = None
) -> bpy.types.Object:
    """Put one reconstructed frame on the timeline at `start_frame + index` (see the module docstring)."""
    rig = ensure_rig(scene, name)
    index = int(frame["index"])
    t = start_frame + index
    oname = frame_object_name(name, index)
    old = bpy.data.objects.get(oname)
    if old is not None:  # a re-sent frame replaces the one we had
        bpy.data.objects.remove(old)
    mesh = build_mesh(oname, frame["vertices"], frame["faces"], frame.get("colors"), frame.get("uv"))
    png = frame.get("texture_png")
    image = load_texture(oname, png, texture_dir) if png else None
    mesh.materials.append(make_material(oname, image))
    obj = bpy.data.objects.new(oname, mesh)
    rig["frames"].objects.link(obj)
    obj["headfuse_frame"] = index
    obj["headfuse_timeline_frame"] = t
    obj.matrix_world = _matrix(head_matrix(frame.get("camera")))
    for when, size in ((t - 1, 0.0), (t, 1.0), (t + 1, 0.0)):
        obj.scale = (size, size, size)
        obj.keyframe_insert("scale", frame=when)
    _make_constant(obj)
    objs = _frame_objects(rig)
    if old is None and len(objs) > 1 and objs[-1] == obj:  # a stream in frame order: O(1), not O(frames)
        _append_to_sequence(scene, rig, objs, start_frame)
    else:
        rebuild_sequence(scene, name, start_frame)
    return obj


def _frame_objects(rig: dict) -> list:
    """The per-frame objects in instance order (Collection Info orders children by name: frame order)."""
    return sorted(rig["frames"].objects, key=lambda o: o.name)


def _instance_socket(seq) -> tuple:
    """The sequence object's modifier, its `Instance` input's id and that input's data path."""
    mod = seq.modifiers["headfuse sequence"]
    socket = _socket_id(mod, "Instance")
    return mod, socket, f'modifiers["{mod.name}"]["{socket}"]'


def _key_sequence_frame(seq, instance: tuple, k: int, obj, t: int) -> None:
    """Key the sequence object at timeline frame t: instance k (`obj`) and `obj`'s head pose; `instance`:
    `_instance_socket(seq)`."""
    mod, socket, path = instance
    mod[socket] = k
    seq.keyframe_insert(path, frame=t)
    # the frame object's own location and rotation (not its matrix_world: once the depsgraph has evaluated
    # another frame, its keyed scale is 0 there and the rotation cannot be read back from the matrix)
    seq.rotation_mode = obj.rotation_mode
    seq.location, seq.rotation_euler = obj.location.copy(), obj.rotation_euler.copy()
    seq.scale = (1.0, 1.0, 1.0)
    for path in ("location", "rotation_euler", "scale"):
        seq.keyframe_insert(path, frame=t)


def _key_nothing(seq, instance: tuple, t: int) -> None:
    """Key the sequence object to show no head from timeline frame t on."""
    mod, socket, path = instance
    mod[socket] = -1
    seq.keyframe_insert(path, frame=t)


def _append_to_sequence(scene: bpy.types.Scene, rig: dict, objs: list, start_frame: int) -> None:
    """Key the newest frame `objs[-1]` onto a sequence keyed for `objs[:-1]` (the same keys
    `rebuild_sequence` makes, without re-keying the frames before it)."""
    seq, obj = rig["sequence"], objs[-1]
    instance = _instance_socket(seq)
    t = start_frame + int(obj["headfuse_frame"])
    end_before = start_frame + int(objs[-2]["headfuse_frame"]) + 1
    if end_before != t:  # after a skipped frame the last head holds until this one
        seq.keyframe_delete(instance[2], frame=end_before)
    _key_sequence_frame(seq, instance, len(objs) - 1, obj, t)
    _key_nothing(seq, instance, t + 1)
    for fcurve in object_fcurves(seq):  # the keys just made are each curve's last two
        points = fcurve.keyframe_points
        for i in range(max(0, len(points) - 2), len(points)):
            points[i].interpolation = "CONSTANT"
    scene.frame_start, scene.frame_end = start_frame + int(objs[0]["headfuse_frame"]), t


def rebuild_sequence(scene: bpy.types.Scene, name: str, start_frame: int = 1) -> None:
    """Key the sequence object: at each frame's time, the instance of that frame and its head pose."""
    rig = ensure_rig(scene, name)
    seq = rig["sequence"]
    instance = _instance_socket(seq)
    objs = _frame_objects(rig)
    seq.animation_data_clear()
    before = start_frame + min((int(o["headfuse_frame"]) for o in objs), default=0) - 1
    _key_nothing(seq, instance, before)  # nothing before the first head
    for k, obj in enumerate(objs):
        _key_sequence_frame(seq, instance, k, obj, start_frame + int(obj["headfuse_frame"]))
    if objs:  # after the last head, nothing, as the frame objects show
        _key_nothing(seq, instance, start_frame + max(int(o["headfuse_frame"]) for o in objs) + 1)
    _make_constant(seq)
    if objs:  # the scene's range is the clip's: what plays and what exports write
        indices = [int(o["headfuse_frame"]) for o in objs]
        scene.frame_start, scene.frame_end = start_frame + min(indices), start_frame + max(indices)
