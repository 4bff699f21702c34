"""3D Viewport > Sidebar > headfuse."""

import bpy

from . import jobs, preview


class VIEW3D_PT_headfuse(bpy.types.Panel):
    """Reconstruct a portrait video into per-frame heads on the timeline."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "headfuse"
    bl_label = "headfuse"

    def draw(self, context):
        layout, hf = self.layout, context.scene.headfuse
        col = layout.column()
        col.prop(hf, "video")
        col.prop(hf, "reference_mode", expand=True)
        if hf.reference_mode == "FILE":
            col.prop(hf, "reference")
        else:
            col.prop(hf, "reference_frame")
        row = col.row(align=True)
        row.prop(hf, "frame_start")
        row.prop(hf, "frame_end")
        row.prop(hf, "frame_step")
        row = col.row(align=True)
        row.prop(hf, "mode")
        row.prop(hf, "no_face")
        row = col.row(align=True)
        row.prop(hf, "mesh_resolution")
        row = col.row(align=True)
        row.prop(hf, "texture")
        row.prop(hf, "texture_size")
        col.prop(hf, "timeline_start")
        col.prop(hf, "texture_storage")
        row = layout.row(align=True)
        row.operator("headfuse.reconstruct", icon="PLAY")
        row.operator("headfuse.cancel", icon="CANCEL")
        if jobs.running(context.scene) or hf.progress > 0:
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=hf.progress, type="BAR", text=hf.status)
            else:
                layout.label(text=hf.status)
        elif hf.status:
            layout.label(text=hf.status)
        layout.label(text=hf.connection, icon="LINKED" if hf.connection.startswith("connected") else "UNLINKED")
        if hf.shots:
            box = layout.box()
            lines = hf.shots.splitlines()
            box.label(text=f"Shots ({len(lines)}), source frames:")
            for line in lines[-8:]:
                box.label(text=line, icon="CHECKMARK" if line.endswith(" seen") and "not seen" not in line else "X")
        if hf.error:
            box = layout.box()
            box.alert = True
            for line in _wrap(hf.error, 48):
                box.label(text=line, icon="ERROR" if line is _wrap(hf.error, 48)[0] else "NONE")
        pv = context.scene.headfuse_preview
        row = layout.row(align=True)
        row.operator("headfuse.toggle_preview", icon="HIDE_OFF" if pv.enabled else "HIDE_ON", depress=pv.enabled)
        row.prop(pv, "steps")
        msg = preview.message(context.scene)
        if msg:
            box = layout.box()
            box.alert = True
            for line in _wrap(msg, 48):
                box.label(text=line)
        row = layout.row(align=True)
        for key, label in (("ABC", "Alembic"), ("USD", "USD"), ("FBX", "FBX")):
            row.operator("headfuse.export", text=label).format = key


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if len(line) + len(w) + 1 > width and line:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return lines + ([line] if line else [])
