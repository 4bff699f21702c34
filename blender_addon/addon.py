"""Registration of the add-on's classes, scene settings, menu entries and handlers (bpy)."""

import bpy
from bpy.app.handlers import persistent

from . import jobs, operators, panel, preferences, preview, properties

CLASSES = (
    preferences.HeadfusePreferences,
    properties.HeadfuseSceneSettings,
    operators.HEADFUSE_OT_reconstruct,
    operators.HEADFUSE_OT_cancel,
    *operators.EXPORTS,
    operators.HEADFUSE_OT_start_backend,
    operators.HEADFUSE_OT_test_connection,
    operators.HEADFUSE_OT_composite,
    operators.HEADFUSE_OT_compress_shapes,
    *panel.PANELS,
)


@persistent
def stop_jobs(_filepath=None):
    """Before another .blend is loaded or File > New: stop listening (the loaded file resumes its own jobs)
    and drop the live preview's fields, which belong to the scene going away."""
    jobs.stop_all()
    preview.clear()


@persistent
def relative_paths(filepath=None):
    """When the .blend is saved: keep the video and reference relative to it (`//...`), as Blender keeps its
    own file paths, so the project folder can move. Paths on another drive stay absolute."""
    import os

    folder = os.path.dirname(filepath or bpy.data.filepath)
    if not folder:
        return
    for scene in bpy.data.scenes:
        hf = scene.headfuse
        for prop in ("video", "reference"):
            path = getattr(hf, prop)
            if path and not path.startswith("//"):
                try:
                    setattr(hf, prop, bpy.path.relpath(bpy.path.abspath(path), start=folder))
                except ValueError:  # another drive (Windows): no relative form
                    pass


@persistent
def resume_jobs(_filepath=None):
    """After a .blend is opened (or File > New): scenes that never set their quality take the preferences'
    defaults, and a job that was still running on the server when the file was saved is picked up."""
    for scene in bpy.data.scenes:
        preferences.apply_quality_defaults(scene)
        hf = scene.headfuse
        if hf.job_id and not hf.job_finished and not jobs.running(scene):
            p = preferences.prefs()
            hf.status = f"resuming job {hf.job_id} from frame {hf.frames_received}"
            jobs.start(
                scene,
                jobs.JobRunner(p.server_address, p.key_folder, "", "", {}, job=hf.job_id, start_seq=hf.frames_received),
            )


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.headfuse = bpy.props.PointerProperty(type=properties.HeadfuseSceneSettings)
    preview.register()
    bpy.types.TOPBAR_MT_file_export.append(operators.menu_export)
    bpy.app.handlers.load_pre.append(stop_jobs)
    bpy.app.handlers.load_post.append(resume_jobs)
    bpy.app.handlers.save_pre.append(relative_paths)


def unregister():
    jobs.stop_all()
    preview.unregister()
    bpy.app.handlers.save_pre.remove(relative_paths)
    bpy.app.handlers.load_post.remove(resume_jobs)
    bpy.app.handlers.load_pre.remove(stop_jobs)
    bpy.types.TOPBAR_MT_file_export.remove(operators.menu_export)
    del bpy.types.Scene.headfuse
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    operators.stop_local_backend()
