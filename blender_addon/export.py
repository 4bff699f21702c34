"""Exports that survive the round trip (bpy only).

Alembic and USD carry the varying topology of the Geometry Nodes sequence object; FBX cannot, so
it carries the per-frame objects with their CONSTANT scale keys. Settings are the ones checked to
re-import frame by frame: evaluation mode VIEWPORT, no background job, textures copied or embedded.
"""

import bpy

from .importer import ensure_rig


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


def _range(scene):
    return int(scene.frame_start), int(scene.frame_end)


def export_alembic(scene: bpy.types.Scene, name: str, filepath: str) -> str:
    """The sequence object (per-frame topology, UVs, corner byte colours) to an .abc file."""
    rig = ensure_rig(scene, name)
    start, end = _range(scene)
    with _selection(scene, [rig["sequence"]]):
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


def export_usd(scene: bpy.types.Scene, name: str, filepath: str) -> str:
    """The sequence object (per-frame topology, UVs, colours, materials with copied textures) to USD."""
    rig = ensure_rig(scene, name)
    with _selection(scene, [rig["sequence"], rig["camera"]]):
        bpy.ops.wm.usd_export(
            filepath=filepath,
            selected_objects_only=True,
            export_animation=True,
            export_uvmaps=True,
            export_normals=True,
            export_materials=True,
            export_textures_mode="NEW",
            evaluation_mode="VIEWPORT",
        )
    return filepath


def export_fbx(scene: bpy.types.Scene, name: str, filepath: str) -> str:
    """The per-frame objects with their CONSTANT scale 0/1 keys and embedded textures to FBX."""
    rig = ensure_rig(scene, name)
    objects = list(rig["frames"].objects) + [rig["camera"]]
    with _selection(scene, objects, [rig["frames"]]):
        bpy.ops.export_scene.fbx(
            filepath=filepath,
            use_selection=True,
            bake_anim=True,
            bake_anim_use_all_bones=False,
            bake_anim_use_nla_strips=False,
            bake_anim_use_all_actions=False,
            bake_anim_force_startend_keying=True,
            bake_anim_simplify_factor=0.0,
            path_mode="COPY",
            embed_textures=True,
            add_leaf_bones=False,
            axis_forward="-Z",
            axis_up="Y",
        )
    return filepath
