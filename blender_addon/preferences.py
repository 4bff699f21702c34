"""Add-on preferences: where the backend is and how to reach it."""

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from .wire import options

_DEFAULTS = options.ReconstructConfig()
QUALITY = ("mesh_resolution", "texture_size")
"""Scene settings whose studio default the preferences hold (a scene that never set one takes it)."""


class HeadfusePreferences(bpy.types.AddonPreferences):
    """Server address, CurveZMQ keys, the local backend command and default quality."""

    bl_idname = __package__

    server_address: StringProperty(
        name="Server", default="tcp://127.0.0.1:5555", description="ZeroMQ address of `headfuse serve`"
    )
    key_folder: StringProperty(
        name="CurveZMQ keys",
        subtype="DIR_PATH",
        default="",
        description="Client key folder made by `headfuse keys` (empty: no encryption)",
    )
    start_local_backend: BoolProperty(
        name="Start a local backend", default=False, description="Start the backend command when no server answers"
    )
    backend_command: StringProperty(
        name="Backend command", default="headfuse serve", description="Command that starts a local server"
    )
    mesh_resolution: IntProperty(
        name="Default mesh resolution", default=_DEFAULTS.mesh_resolution, min=32, max=512, step=32,
        description="What a scene that never set its mesh resolution reconstructs with",
    )  # fmt: skip
    texture_size: IntProperty(
        name="Default texture size", default=_DEFAULTS.texture_size, min=0, max=2048,
        description="What a scene that never set its texture size reconstructs with",
    )  # fmt: skip

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "server_address")
        layout.prop(self, "key_folder")
        row = layout.row()
        row.prop(self, "start_local_backend")
        row.prop(self, "backend_command", text="")
        row = layout.row()
        for name in QUALITY:
            row.prop(self, name)
        layout.operator("headfuse.test_connection", icon="PLUGIN")


def apply_quality_defaults(scene, context=None) -> None:
    """Give `scene` the preferences' default quality where the scene never set its own (Blender keeps a
    property unset until it is changed)."""
    p = prefs(context)
    for name in QUALITY:
        if not scene.headfuse.is_property_set(name):
            setattr(scene.headfuse, name, getattr(p, name))


def prefs(context=None) -> HeadfusePreferences:
    """This add-on's preferences."""
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences
