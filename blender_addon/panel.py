"""3D Viewport > Sidebar > headfuse: a main panel (reconstruct, progress, errors) with sub-panels Input,
Reconstruction, Output, Preview, Compositing and Server."""

import bpy

from . import compositing, jobs, preview


class VIEW3D_PT_headfuse(bpy.types.Panel):
    """Reconstruct a portrait video into per-frame heads on the timeline."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "headfuse"
    bl_label = "headfuse"

    def draw(self, context):
        layout, hf = self.layout, context.scene.headfuse
        row = layout.row(align=True)
        row.scale_y = 1.3
        row.operator("headfuse.reconstruct", icon="PLAY")
        row.operator("headfuse.cancel", icon="CANCEL")
        if jobs.running(context.scene) or hf.progress > 0:
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=hf.progress, type="BAR", text=hf.status)
            else:
                layout.label(text=hf.status)
        elif hf.status:
            layout.label(text=hf.status)
        if hf.error:
            _message(layout, hf.error, "ERROR")
        if hf.shots:
            box = layout.box()
            lines = hf.shots.splitlines()
            box.label(text=f"Shots ({len(lines)}), source frames:")
            for line in lines[-8:]:
                box.label(text=line, icon="CHECKMARK" if line.endswith(" seen") and "not seen" not in line else "X")


class _Sub(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "headfuse"
    bl_parent_id = "VIEW3D_PT_headfuse"


class VIEW3D_PT_headfuse_input(_Sub):
    """The video, the reference and the source frames."""

    bl_label = "Input"

    def draw(self, context):
        col, hf = self.layout.column(), context.scene.headfuse
        col.prop(hf, "video")
        col.prop(hf, "reference_mode", expand=True)
        col.prop(hf, "reference" if hf.reference_mode == "FILE" else "reference_frame")
        row = col.row(align=True)
        row.prop(hf, "frame_start")
        row.prop(hf, "frame_end")
        row.prop(hf, "frame_step")


class VIEW3D_PT_headfuse_reconstruction(_Sub):
    """How the heads are made."""

    bl_label = "Reconstruction"

    def draw(self, context):
        col, hf = self.layout.column(), context.scene.headfuse
        row = col.row(align=True)
        row.prop(hf, "mode")
        row.prop(hf, "no_face")
        col.prop(hf, "mesh_resolution")
        col.prop(hf, "topology")
        if hf.topology == "tracked":
            col.prop(hf, "track_smoothing")
            col.prop(hf, "texture_span")
        col.prop(hf, "focal_px")
        row = col.row(align=True)
        row.prop(hf, "texture")
        row.prop(hf, "texture_size")


class VIEW3D_PT_headfuse_output(_Sub):
    """Where the heads go: the object, the timeline, the textures, the exports."""

    bl_label = "Output"

    def draw(self, context):
        col, hf = self.layout.column(), context.scene.headfuse
        col.prop(hf, "object_name")
        col.prop(hf, "timeline_start")
        col.prop(hf, "texture_storage")
        col.prop(hf, "mattes")
        row = col.row(align=True)
        for op, label in (("export_alembic", "Alembic"), ("export_usd", "USD"), ("export_fbx", "FBX")):
            row.operator(f"headfuse.{op}", text=label)
        obj = bpy.data.objects.get(hf.object_name)
        if obj is not None and obj.get("headfuse_tracked"):
            col.operator("headfuse.compress_shapes")
            errors = obj.get("headfuse_pca_errors_mm")
            k = str(obj.get("headfuse_pca", ""))
            if errors and k in errors:
                mean, top = errors[k]
                col.label(text=f"{k} principal shapes: {mean:.2f} mm mean, {top:.2f} max", icon="INFO")


class VIEW3D_PT_headfuse_preview(_Sub):
    """The live triplane preview."""

    bl_label = "Preview"

    def draw(self, context):
        layout, pv = self.layout, context.scene.headfuse_preview
        row = layout.row(align=True)
        row.operator("headfuse.toggle_preview", icon="HIDE_OFF" if pv.enabled else "HIDE_ON", depress=pv.enabled)
        row.prop(pv, "steps")
        if not pv.enabled:
            layout.label(text="Turn it on before Reconstruct: fields come only then", icon="INFO")
        msg = preview.message(context.scene)
        if msg:
            _message(layout, msg, "ERROR")


class VIEW3D_PT_headfuse_compositing(_Sub):
    """A render over the plate."""

    bl_label = "Compositing"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column(align=True)
        for key, label, _ in compositing.HEAD_MODES:
            col.operator("headfuse.composite", text=label).head = key


class VIEW3D_PT_headfuse_server(_Sub):
    """The server: its state, a test, a local backend."""

    bl_label = "Server"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout, hf = self.layout, context.scene.headfuse
        _message(layout, hf.connection, "LINKED" if hf.connection.startswith("connected") else "UNLINKED")
        row = layout.row(align=True)
        row.operator("headfuse.test_connection", icon="PLUGIN")
        row.operator("headfuse.start_backend", icon="CONSOLE")


PANELS = (
    VIEW3D_PT_headfuse,
    VIEW3D_PT_headfuse_input,
    VIEW3D_PT_headfuse_reconstruction,
    VIEW3D_PT_headfuse_output,
    VIEW3D_PT_headfuse_preview,
    VIEW3D_PT_headfuse_compositing,
    VIEW3D_PT_headfuse_server,
)
"""The main panel first (sub-panels register after their parent)."""


def _message(layout, text: str, icon: str) -> None:
    """`text` wrapped in a box, the icon on its first line (alert for errors)."""
    box = layout.box()
    box.alert = icon == "ERROR"
    for k, line in enumerate(_wrap(text, 48)):
        box.label(text=line, icon=icon if k == 0 else "NONE")


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + ([line] if line else [])
