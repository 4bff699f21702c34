"""Per-scene settings and job state of the headfuse panel (saved with the .blend)."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

PATH_OPTIONS = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()
"""File paths that may be `//` relative to the .blend (Blender 4.5+ asks for it to be declared)."""


class HeadfuseSceneSettings(bpy.types.PropertyGroup):
    """What to reconstruct and how, plus the state of the current job."""

    video: StringProperty(name="Video", subtype="FILE_PATH", description="Portrait video to reconstruct",
                          options=PATH_OPTIONS)  # fmt: skip
    reference_mode: EnumProperty(
        name="Reference",
        items=[
            ("FILE", "Image file", "A near-frontal image of the same person"),
            ("FRAME", "Video frame", "Use one frame of the video as the reference"),
        ],
        default="FILE",
    )
    reference: StringProperty(name="Reference image", subtype="FILE_PATH", description="Near-frontal image",
                              options=PATH_OPTIONS)  # fmt: skip
    reference_frame: IntProperty(name="Reference frame", default=0, min=0, description="Source frame used as reference")
    frame_start: IntProperty(name="First frame", default=0, min=0, description="First source frame")
    frame_end: IntProperty(name="Last frame", default=-1, min=-1, description="Last source frame (-1: to the end)")
    frame_step: IntProperty(name="Step", default=1, min=1, description="Take every n-th source frame")
    mode: EnumProperty(
        name="Mode",
        items=[
            ("fused", "Fused", "Per-frame lifting fused with the reference prior"),
            ("per-frame", "Per-frame", "The single-image baseline"),
        ],
        default="fused",
    )
    no_face: EnumProperty(
        name="No face",
        items=[
            ("hold", "Hold", "Keep the last good view for a few frames where the face is lost"),
            ("skip", "Skip", "Leave frames without a usable face empty"),
        ],
        default="hold",
    )
    mesh_resolution: IntProperty(name="Mesh resolution", default=128, min=32, max=512, step=32)
    texture: EnumProperty(
        name="Texture",
        items=[
            ("projected", "Projected", "Colour from the frame where it sees the head, the reference where it does not"),
            ("field", "Field", "The reconstructed field's own colour"),
        ],
        default="projected",
    )
    texture_size: IntProperty(name="Texture size", default=1024, min=0, max=2048)
    topology: EnumProperty(
        name="Topology",
        items=[
            ("per-frame", "Per frame", "Each frame its own mesh"),
            ("tracked", "Tracked", "One template mesh whose vertices follow the head (the same count every frame)"),
        ],
        default="tracked",
    )
    texture_span: EnumProperty(
        name="Texture span",
        items=[
            ("frame", "Per frame", "Each frame its own texture (the tracked head wears the first)"),
            ("clip", "Whole clip", "One texture fused over the frames, texel by texel, in the template's UVs"),
        ],
        default="frame",
    )
    track_smoothing: IntProperty(
        name="Smoothing (frames)",
        default=2,
        min=0,
        max=8,
        description="Tracked: average each frame's shape with this many frames on each side (no lag; 0: none)",
    )
    focal_px: IntProperty(
        name="Focal (px)", default=0, min=0, description="The plate's focal length in pixels, if known (0: guess)"
    )
    mattes: BoolProperty(
        name="Mattes",
        default=False,
        description="Also a person matte per frame (a PNG sequence next to the .blend) for compositing",
    )
    timeline_start: IntProperty(name="Timeline start", default=1, description="Timeline frame of source frame 0")
    texture_storage: EnumProperty(
        name="Textures", items=[("PACK", "Pack in .blend", ""), ("FOLDER", "Folder next to .blend", "")], default="PACK"
    )
    object_name: StringProperty(name="Object", default="head", description="Name of the reconstructed head")
    # job state
    job_id: StringProperty(name="Job", default="")
    job_finished: BoolProperty(default=True)
    connection: StringProperty(name="Connection", default="not connected")
    status: StringProperty(name="Status", default="")
    error: StringProperty(name="Error", default="")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    frames_received: IntProperty(default=0)
    frames_total: IntProperty(default=0)
    skipped: IntProperty(default=0)
    shots: StringProperty(name="Shots", default="", description="The clip's shots so far, one per line")
