"""Operators: reconstruct, cancel, export, start a local backend."""

import os
import shlex
import subprocess

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from . import compositing, export, jobs, preview, shape_pca
from .preferences import apply_quality_defaults, prefs
from .wire import protocol

_backend: subprocess.Popen | None = None


PANEL_OPTIONS = {
    "mode": "mode",
    "mesh_resolution": "mesh_resolution",
    "texture": "texture",
    "texture_size": "texture_size",
    "topology": "topology",
    "track_smoothing": "track_smoothing",
    "texture_span": "texture_span",
    "no_face": "no_face",
    "start": "frame_start",
    "stop": "frame_end",
    "stride": "frame_step",
    "reference_frame": "reference_frame",
    "focal_px": "focal_px",
    "mattes": "mattes",
}
"""Job option (`headfuse_wire.options.ReconstructConfig`, scope `job`) -> the panel property that sets it.
A test holds this to the options, so a new option cannot be left out of the panel."""


def job_options(hf, triplanes: bool = False) -> dict:
    """The panel's settings as SUBMIT options; `triplanes`: ask for each frame's field too (the live
    preview is on)."""
    options = {option: getattr(hf, prop) for option, prop in PANEL_OPTIONS.items()}
    options["stop"] = hf.frame_end + 1 if hf.frame_end >= 0 else None  # the panel's last frame is inclusive
    if hf.reference_mode != "FRAME":
        options["reference_frame"] = None
    options["focal_px"] = hf.focal_px or None  # 0: guessed from the image size
    if hf.topology != "tracked":
        options["texture_span"] = "frame"  # the panel hides the span then: a leftover Whole clip must not refuse
    options["name"] = hf.object_name
    options["triplanes"] = triplanes  # about 0.6 MB a frame: only when the preview will draw them
    return options


def network_refusal(address: str) -> str | None:
    """Why the add-on may not reach `address` (Blender's online access is off and it is not this machine),
    or None."""
    if protocol.is_loopback(address) or bpy.app.online_access:
        return None
    return (f"Blender's online access is off (Preferences > System > Network): allow it to reach the server at "
            f"{address}, or use a server on this machine")  # fmt: skip


class HEADFUSE_OT_reconstruct(bpy.types.Operator):
    """Send the video and reference to the headfuse server; frames appear on the timeline as they arrive"""

    bl_idname = "headfuse.reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return not jobs.running(context.scene)

    def execute(self, context):
        scene, hf, p = context.scene, context.scene.headfuse, prefs(context)
        apply_quality_defaults(scene, context)  # a scene made since the file was opened
        video = bpy.path.abspath(hf.video)
        reference = video if hf.reference_mode == "FRAME" else bpy.path.abspath(hf.reference)
        for label, path in (("video", video), ("reference image", reference)):
            if not path or not os.path.isfile(path):
                hf.error = f"{label} not found: {path or '(not set)'}"
                self.report({"ERROR"}, hf.error)
                return {"CANCELLED"}
        refusal = network_refusal(p.server_address)
        if refusal is not None:
            hf.error = refusal
            self.report({"ERROR"}, refusal)
            return {"CANCELLED"}
        if p.start_local_backend:
            try:
                start_local_backend(p.backend_command)
            except (OSError, ValueError) as exc:
                hf.error = f"could not start the local backend `{p.backend_command}`: {exc}"
                self.report({"ERROR"}, hf.error)
                return {"CANCELLED"}
        hf.error, hf.status, hf.progress = "", "connecting", 0.0
        hf.frames_received = hf.frames_total = hf.skipped = 0
        hf.shots = ""
        hf.job_id, hf.job_finished = "", False
        preview.clear()
        options = job_options(hf, triplanes=scene.headfuse_preview.enabled)
        jobs.start(scene, jobs.JobRunner(p.server_address, p.key_folder, video, reference, options))
        return {"FINISHED"}


class HEADFUSE_OT_cancel(bpy.types.Operator):
    """Cancel the running job on the server (frames already received stay)"""

    bl_idname = "headfuse.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return bool(context.scene.headfuse.job_id) and not context.scene.headfuse.job_finished

    def execute(self, context):
        hf, p = context.scene.headfuse, prefs(context)
        try:
            jobs.cancel_job(p.server_address, p.key_folder, hf.job_id)
        except Exception as exc:
            hf.error = f"cancel failed: {exc}"
            self.report({"ERROR"}, hf.error)
            return {"CANCELLED"}
        hf.status = "cancelling"
        return {"FINISHED"}


FRAME_RANGES = (
    ("CLIP", "Clip", "From the first head to the last"),
    ("SCENE", "Scene", "The scene's frame range"),
    ("CUSTOM", "Custom", "The frames below"),
)


class _Export(ExportHelper):
    """The file browser and options every export shares (ExportHelper: the path, its extension)."""

    bl_options = {"REGISTER", "PRESET"}
    frame_range: EnumProperty(name="Frames", items=FRAME_RANGES, default="CLIP")
    first: IntProperty(name="First", default=1, description="First timeline frame (Custom)")
    last: IntProperty(name="Last", default=250, description="Last timeline frame (Custom)")
    textures: BoolProperty(name="Textures", default=True, description="Write the textures with the file")

    @classmethod
    def poll(cls, context):
        name = context.scene.headfuse.object_name
        obj = bpy.data.objects.get(name)
        return bpy.data.collections.get(f"{name} frames") is not None or bool(obj and obj.get("headfuse_tracked"))

    def frames(self, context) -> tuple[int, int] | None:
        """The timeline frames to write, inclusive (None: the scene's range)."""
        if self.frame_range == "CLIP":
            return export.clip_range(context.scene, context.scene.headfuse.object_name)
        if self.frame_range == "CUSTOM":
            return (self.first, max(self.first, self.last))
        return None

    def run(self, context, **kwargs):
        try:
            self.write(context.scene, context.scene.headfuse.object_name, self.filepath, self.frames(context),
                       textures=self.textures, **kwargs)  # fmt: skip
        except (ValueError, RuntimeError, OSError) as exc:
            context.scene.headfuse.error = f"export to {self.filepath} failed: {exc}"
            self.report({"ERROR"}, context.scene.headfuse.error)
            return {"CANCELLED"}
        self.report({"INFO"}, f"exported {self.filepath}")
        return {"FINISHED"}


class HEADFUSE_OT_export_alembic(bpy.types.Operator, _Export):
    """Export the head sequence to Alembic: one mesh whose topology follows the frame, textures beside it"""

    bl_idname = "headfuse.export_alembic"
    bl_label = "Export headfuse heads (.abc)"
    filename_ext = ".abc"
    filter_glob: StringProperty(default="*.abc", options={"HIDDEN"})
    write = staticmethod(export.export_alembic)

    def execute(self, context):
        return self.run(context)


class _ExportWithCamera(_Export):
    """An export that may carry the plate camera."""

    camera: BoolProperty(name="Plate camera", default=True, description="Export the plate camera too")

    def execute(self, context):
        return self.run(context, camera=self.camera)


class HEADFUSE_OT_export_usd(bpy.types.Operator, _ExportWithCamera):
    """Export the head sequence to USD: time-sampled mesh, a preview-surface material, the plate camera"""

    bl_idname = "headfuse.export_usd"
    bl_label = "Export headfuse heads (.usdc)"
    filename_ext = ".usdc"
    filter_glob: StringProperty(default="*.usd;*.usdc;*.usda", options={"HIDDEN"})
    write = staticmethod(export.export_usd)


class HEADFUSE_OT_export_fbx(bpy.types.Operator, _ExportWithCamera):
    """Export the heads to FBX: one object per frame with visibility keys, frame-exact on a default import"""

    bl_idname = "headfuse.export_fbx"
    bl_label = "Export headfuse heads (.fbx)"
    filename_ext = ".fbx"
    filter_glob: StringProperty(default="*.fbx", options={"HIDDEN"})
    write = staticmethod(export.export_fbx)


EXPORTS = (HEADFUSE_OT_export_alembic, HEADFUSE_OT_export_usd, HEADFUSE_OT_export_fbx)
"""One operator per format, as Blender's own exporters are (each its extension and options)."""


class HEADFUSE_OT_start_backend(bpy.types.Operator):
    """Start the local backend command from the preferences"""

    bl_idname = "headfuse.start_backend"
    bl_label = "Start local backend"
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            start_local_backend(prefs(context).backend_command)
        except (OSError, ValueError) as exc:
            context.scene.headfuse.error = f"could not start the backend: {exc}"
            self.report({"ERROR"}, context.scene.headfuse.error)
            return {"CANCELLED"}
        return {"FINISHED"}


class HEADFUSE_OT_composite(bpy.types.Operator):
    """Set the scene up to render the head over the plate: plate in the compositor, film transparent"""

    bl_idname = "headfuse.composite"
    bl_label = "Composite over plate"
    bl_options = {"REGISTER", "UNDO"}

    head: EnumProperty(name="Head", items=compositing.HEAD_MODES, default="OVER")

    @classmethod
    def poll(cls, context):
        return bpy.data.objects.get(f"{context.scene.headfuse.object_name} camera") is not None

    def execute(self, context):
        hf = context.scene.headfuse
        try:
            compositing.composite_over_plate(context.scene, hf.object_name, self.head)
        except ValueError as exc:
            hf.error = str(exc)
            self.report({"ERROR"}, hf.error)
            return {"CANCELLED"}
        self.report({"INFO"}, f"compositing {hf.object_name} over its plate ({self.head.lower()})")
        return {"FINISHED"}


class HEADFUSE_OT_compress_shapes(bpy.types.Operator):
    """Replace the tracked head's per-frame shape keys by its mean shape and K principal shapes with
    per-frame weights (editable and small); the error of each K is reported"""

    bl_idname = "headfuse.compress_shapes"
    bl_label = "Compress to principal shapes"
    bl_options = {"REGISTER", "UNDO"}

    count: IntProperty(name="Shapes (K)", default=16, min=1, max=64, description="Principal shapes to keep")

    @classmethod
    def poll(cls, context):
        obj = bpy.data.objects.get(context.scene.headfuse.object_name)
        return obj is not None and bool(obj.get("headfuse_tracked")) and not obj.get("headfuse_pca")

    def execute(self, context):
        hf = context.scene.headfuse
        try:
            errors = shape_pca.compress_tracked(bpy.data.objects[hf.object_name], self.count)
        except ValueError as exc:
            hf.error = str(exc)
            self.report({"ERROR"}, hf.error)
            return {"CANCELLED"}
        table = ", ".join(f"K={k}: {mean:.2f} mm mean / {top:.2f} max" for k, (mean, top) in errors.items())
        self.report({"INFO"}, f"{hf.object_name}: {self.count} principal shapes ({table})")
        return {"FINISHED"}


class HEADFUSE_OT_test_connection(bpy.types.Operator):
    """Ask the server for its version and workers (a HELLO), and show the answer"""

    bl_idname = "headfuse.test_connection"
    bl_label = "Test connection"
    bl_options = {"REGISTER"}

    def execute(self, context):
        hf, p = context.scene.headfuse, prefs(context)
        refusal = network_refusal(p.server_address)
        if refusal is not None:
            hf.connection = refusal
            self.report({"ERROR"}, refusal)
            return {"CANCELLED"}
        try:
            with jobs.Client(p.server_address, curve_keys=p.key_folder or None, timeout=3.0) as client:
                hello = client.hello()
        except Exception as exc:  # unreachable, refused keys, a bad key folder: all go to the panel
            said = str(exc)
            hf.connection = said if p.server_address in said else f"no answer from {p.server_address}: {said}"
            self.report({"ERROR"}, hf.connection)
            return {"CANCELLED"}
        workers = hello.get("workers") or {}
        ready = f", {workers['ready']} of {workers['wanted']} workers ready" if workers else ""
        hf.connection = f"connected to {p.server_address} ({hello.get('agent', 'headfuse')}{ready})"
        if workers.get("errors"):
            hf.connection += f"; {workers['errors'][0]}"
        self.report({"INFO"}, hf.connection)
        return {"FINISHED"}


def start_local_backend(command: str) -> subprocess.Popen:
    """Start `command` once (a second call while it runs does nothing)."""
    global _backend
    if _backend is None or _backend.poll() is not None:
        _backend = subprocess.Popen(shlex.split(command))
    return _backend


def stop_local_backend() -> None:
    """Stop the backend this add-on started, if any."""
    global _backend
    if _backend is not None and _backend.poll() is None:
        _backend.terminate()
    _backend = None


def menu_export(self, context):
    for op in EXPORTS:
        self.layout.operator(op.bl_idname, text=op.bl_label.removeprefix("Export "))
