"""headfuse for Blender: reconstruct a portrait video into per-frame 3D heads on the timeline.

The add-on is a front end only: it talks to a headfuse server over ZeroMQ with the client of the
wire package it shares with the backend (`headfuse_wire`, bundled in the zip; see `wire.py`) and
imports no backend code. Networking runs on a background
thread; frames reach the main thread through `bpy.app.timers` (`jobs.py`).
"""


def register():
    from . import addon

    addon.register()


def unregister():
    from . import addon

    addon.unregister()
