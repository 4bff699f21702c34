"""headfuse for Blender: reconstruct a portrait video into per-frame 3D heads on the timeline.

The add-on is a front end only: it talks to a headfuse server over ZeroMQ (`client.py`, the same
client the CLI and tests use) and imports no backend code. Networking runs on a background
thread; frames reach the main thread through `bpy.app.timers` (`jobs.py`).

This file imports nothing from Blender, so the server and its workers can import
`blender_addon.protocol` (the one definition of the wire protocol) without `bpy`.
"""


def register():
    from . import addon

    addon.register()


def unregister():
    from . import addon

    addon.unregister()
