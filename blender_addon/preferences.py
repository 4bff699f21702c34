"""Add-on preferences: where the backend is and how to reach it."""

import bpy
from bpy.props import BoolProperty, StringProperty


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

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "server_address")
        layout.prop(self, "key_folder")
        row = layout.row()
        row.prop(self, "start_local_backend")
        row.prop(self, "backend_command", text="")


def prefs(context=None) -> HeadfusePreferences:
    """This add-on's preferences."""
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences
