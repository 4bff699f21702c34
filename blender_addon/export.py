"""Exports that survive the round trip (bpy only).

Alembic and USD carry the varying topology of the Geometry Nodes sequence object; FBX cannot, so
it carries the per-frame objects with their CONSTANT scale keys. Settings are the ones checked to
re-import frame by frame: evaluation mode VIEWPORT, no background job, textures copied or embedded.
"""

import os
import shutil

import bpy

from .importer import ensure_rig, object_fcurves

FBX_IMPORT_OFFSET = 1
"""Frames Blender's FBX importer adds to every key by default (`anim_offset=1`): the exporter writes scene
frame f at time f / fps, so a default round trip lands every head one frame late. The FBX export writes
its keys this many frames early, so that importers with their default settings put them back in place."""


def _shape_keys(objects) -> list:
    """The shape-key datablocks of `objects` that have any (their values are animated too)."""
    return [o.data.shape_keys for o in objects if o.type == "MESH" and o.data.shape_keys is not None]


class _keys_shifted:
    """Every key of `objects` (objects or shape-key datablocks) and the scene's frame range moved by `frames`
    for the duration."""

    def __init__(self, scene, objects, frames: int):
        self.scene, self.objects, self.frames = scene, list(objects), frames

    def _move(self, d: int) -> None:
        for obj in self.objects:
            for fcurve in object_fcurves(obj):
                for point in fcurve.keyframe_points:
                    for co in (point.co, point.handle_left, point.handle_right):
                        co.x += d
                fcurve.update()
        if d < 0:  # keep start <= end at every step
            self.scene.frame_start += d
            self.scene.frame_end += d
        else:
            self.scene.frame_end += d
            self.scene.frame_start += d

    def __enter__(self):
        self._move(self.frames)
        return self

    def __exit__(self, *exc):
        self._move(-self.frames)


class _selection:
    """Select exactly `objects` (made visible for the duration) and restore everything after."""

    def __init__(self, scene, objects, collections=()):
        self.scene, self.objects, self.collections = scene, list(objects), list(collections)

    def __enter__(self):
        self.hidden = [(c, c.hide_viewport) for c in self.collections]
        for c, _ in self.hidden:
            c.hide_viewport = False
        bpy.context.view_layer.update()
        self.selected = [o for o in self.scene.objects if o.select_get()]
        for o in self.scene.objects:
            o.select_set(False)
        for o in self.objects:
            o.select_set(True)
        bpy.context.view_layer.objects.active = self.objects[0] if self.objects else None
        return self

    def __exit__(self, *exc):
        for o in self.scene.objects:
            o.select_set(o in self.selected)
        for c, hidden in self.hidden:
            c.hide_viewport = hidden


class scene_range:
    """The scene's frame range set to `frames` (`(start, end)`, inclusive; None: as it is) for the duration:
    what every exporter writes."""

    def __init__(self, scene, frames: tuple[int, int] | None):
        self.scene, self.frames = scene, frames

    def __enter__(self):
        self.saved = (self.scene.frame_start, self.scene.frame_end)
        if self.frames is not None:
            self._set(*self.frames)
        return self

    def _set(self, start: int, end: int) -> None:
        self.scene.frame_start = start  # Blender raises the end to a start past it; the end is set next
        self.scene.frame_end = end

    def __exit__(self, *exc):
        self._set(*self.saved)


def clip_range(scene: bpy.types.Scene, name: str) -> tuple[int, int]:
    """The timeline frames of the reconstruction's first and last heads."""
    rig = ensure_rig(scene, name)
    if rig["frames"] is None:  # tracked: one shape key per frame
        frames = [int(t) for t in rig["sequence"]["headfuse_key_frames"].values()]
    else:
        frames = [int(o["headfuse_timeline_frame"]) for o in rig["frames"].objects]
    if not frames:
        raise ValueError(f"{name}: no frames to export")
    return min(frames), max(frames)


def texture_sequence_folder(filepath: str) -> str:
    """Where an Alembic export's textures go: `NAME_textures/` beside `NAME.abc`."""
    return os.path.splitext(filepath)[0] + "_textures"


def object_image(obj: bpy.types.Object) -> bpy.types.Image | None:
    """The image of an object's first material's image texture node, or None."""
    material = obj.data.materials[0] if obj.data.materials else None
    nodes = material.node_tree.nodes if material is not None and material.node_tree else []
    return next((n.image for n in nodes if n.type == "TEX_IMAGE" and n.image is not None), None)


def save_image(image: bpy.types.Image, path: str) -> None:
    """Write an image as its PNG bytes (packed in the .blend or a file beside it) to `path`."""
    if image.packed_file is not None:
        with open(path, "wb") as f:
            f.write(image.packed_file.data)
    else:
        shutil.copyfile(bpy.path.abspath(image.filepath), path)


def write_texture_sequence(scene: bpy.types.Scene, frames: bpy.types.Collection, folder: str) -> list[str]:
    """Each timeline frame's texture as `folder/texture.NNNN.png` (NNNN: the timeline frame, 4 digits or
    more), over the scene's range; a frame without a head of its own repeats the last one, as the sequence
    object does. Blender plays it as an Image Sequence (see README). Returns the files written."""
    by_frame = {}
    for obj in frames.objects:
        image = object_image(obj)
        if image is not None:
            by_frame[int(obj["headfuse_timeline_frame"])] = image
    os.makedirs(folder, exist_ok=True)
    written, last = [], None
    for t in range(int(scene.frame_start), int(scene.frame_end) + 1):
        path = os.path.join(folder, f"texture.{t:04d}.png")
        image = by_frame.get(t)
        if image is not None:
            save_image(image, path)
            last = path
        elif last is not None:
            shutil.copyfile(last, path)
        else:
            continue
        written.append(path)
    return written


def export_alembic(scene: bpy.types.Scene, name: str, filepath: str, frames: tuple[int, int] | None = None,
                   textures: bool = True) -> str:  # fmt: skip
    """The sequence object (per-frame topology, UVs, corner byte colours) to an .abc file over `frames`
    (default: the scene's range), and with `textures` its textures beside it (Alembic carries no materials):
    a per-frame head's as an image sequence (`write_texture_sequence`), a tracked head's one texture as
    `NAME_textures/texture.png`."""
    rig = ensure_rig(scene, name)
    with scene_range(scene, frames), _selection(scene, [rig["sequence"]]):
        if textures and rig["frames"] is not None:
            write_texture_sequence(scene, rig["frames"], texture_sequence_folder(filepath))
        elif textures and object_image(rig["sequence"]) is not None:
            os.makedirs(texture_sequence_folder(filepath), exist_ok=True)
            save_image(object_image(rig["sequence"]), os.path.join(texture_sequence_folder(filepath), "texture.png"))
        start, end = int(scene.frame_start), int(scene.frame_end)
        bpy.ops.wm.alembic_export(
            filepath=filepath,
            selected=True,
            start=start,
            end=end,
            uvs=True,
            normals=True,
            vcolors=True,
            face_sets=False,
            evaluation_mode="VIEWPORT",
            as_background_job=False,
        )
    return filepath


class _first_material:
    """The sequence object's mesh given, for the duration, the material of the first frame (USD's exporter
    writes the materials of an object's own slots, and the sequence's geometry comes from Geometry Nodes)."""

    def __init__(self, seq, frames):
        objects = frames.objects if frames is not None else []  # a tracked head has its own material already
        first = min(objects, key=lambda o: o["headfuse_frame"], default=None)
        self.seq, self.material = seq, first.data.materials[0] if first is not None and first.data.materials else None

    def __enter__(self):
        if self.material is not None:
            self.seq.data.materials.append(self.material)
        return self

    def __exit__(self, *exc):
        if self.material is not None:
            self.seq.data.materials.pop()


def export_usd(scene: bpy.types.Scene, name: str, filepath: str, frames: tuple[int, int] | None = None,
               textures: bool = True, camera: bool = True) -> str:  # fmt: skip
    """The sequence object (per-frame topology, UVs, colours) to USD, with a UsdPreviewSurface material and
    its texture copied beside the file (`textures/`). USD binds one material for the whole time range: it
    is the first frame's (a texture per frame does not travel; Alembic carries none at all). `frames`: the
    range (default: the scene's); `textures`: the material and its texture; `camera`: the plate camera."""
    rig = ensure_rig(scene, name)
    objects = [rig["sequence"], *([rig["camera"]] if camera else [])]
    with scene_range(scene, frames), _selection(scene, objects), _first_material(rig["sequence"], rig["frames"]):
        bpy.ops.wm.usd_export(
            filepath=filepath,
            selected_objects_only=True,
            export_animation=True,
            export_uvmaps=True,
            export_normals=True,
            export_materials=textures,
            generate_preview_surface=textures,
            export_textures_mode="NEW" if textures else "KEEP",
            evaluation_mode="VIEWPORT",
        )
    return filepath


def export_fbx(scene: bpy.types.Scene, name: str, filepath: str, frames: tuple[int, int] | None = None,
               textures: bool = True, camera: bool = True) -> str:  # fmt: skip
    """The per-frame objects with their CONSTANT scale 0/1 keys (and with `textures` embedded textures; with
    `camera` the plate camera) to FBX over `frames` (default: the scene's range), written
    `FBX_IMPORT_OFFSET` frames early so that a default import is frame-exact."""
    rig = ensure_rig(scene, name)
    heads = list(rig["frames"].objects) if rig["frames"] is not None else [rig["sequence"]]  # tracked: shape keys
    objects = heads + ([rig["camera"]] if camera else [])
    with scene_range(scene, frames), _selection(scene, objects, [c for c in [rig["frames"]] if c is not None]), \
            _keys_shifted(scene, objects + _shape_keys(heads), -FBX_IMPORT_OFFSET):  # fmt: skip
        bpy.ops.export_scene.fbx(
            filepath=filepath,
            use_selection=True,
            bake_anim=True,
            bake_anim_use_all_bones=False,
            bake_anim_use_nla_strips=False,
            bake_anim_use_all_actions=False,
            bake_anim_force_startend_keying=True,
            bake_anim_simplify_factor=0.0,
            path_mode="COPY" if textures else "STRIP",
            embed_textures=textures,
            add_leaf_bones=False,
            axis_forward="-Z",
            axis_up="Y",
        )
    return filepath
