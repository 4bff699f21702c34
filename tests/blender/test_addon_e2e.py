"""The add-on inside real Blender against a live `headfuse serve` on 127.0.0.1 (sample clip)."""

import sys
import time
from pathlib import Path

import addon_utils
import bpy
import numpy as np
import pytest

from backend.synth import SAMPLE_CLIP_DIR
from blender_addon import jobs
from tests.server.conftest import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = SAMPLE_CLIP_DIR
FRAMES = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("store") / "jobs", None, 1)
    yield srv
    srv.stop()


@pytest.fixture
def addon(scene):
    sys.path.insert(0, str(ROOT))
    addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    yield bpy.context.preferences.addons["blender_addon"].preferences
    addon_utils.disable("blender_addon", default_set=True)


def configure(hf, frames=FRAMES, topology="per-frame"):
    hf.video, hf.reference = str(SAMPLE / "video.mp4"), str(SAMPLE / "reference.png")
    hf.topology = topology  # most tests here look at the per-frame objects; tracked has its own below
    hf.frame_start, hf.frame_end = 0, frames - 1
    hf.mesh_resolution, hf.texture_size = 48, 64


def pump(scene, timeout=240.0, until=None):
    """Run the add-on's timer callback the way Blender's event loop would, until the job ends."""
    deadline = time.monotonic() + timeout
    while jobs.drain(scene.name) is not None:
        if until is not None and until():
            return
        assert time.monotonic() < deadline, f"job did not finish: {scene.headfuse.status}"
        time.sleep(0.05)


def test_register_and_unregister(addon):
    assert hasattr(bpy.types.Scene, "headfuse") and hasattr(bpy.ops.headfuse, "reconstruct")
    assert addon.server_address == "tcp://127.0.0.1:5555"
    addon_utils.disable("blender_addon", default_set=True)
    assert not hasattr(bpy.types.Scene, "headfuse")
    addon_utils.enable("blender_addon", default_set=True, handle_error=None)


def test_reconstruct_from_the_panel_puts_every_frame_on_the_timeline(addon, server, tmp_path):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    hf = scene.headfuse
    configure(hf)
    scene.headfuse_preview.enabled = True  # the fields come along only for the live preview
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene)
    scene.headfuse_preview.enabled = False
    assert hf.error == "" and hf.job_finished, hf.error
    assert hf.frames_received == FRAMES
    frames = sorted(bpy.data.collections["head frames"].objects, key=lambda o: o["headfuse_frame"])
    assert [o["headfuse_frame"] for o in frames] == list(range(FRAMES))
    seq = bpy.data.objects["head"]
    for o in frames:
        scene.frame_set(hf.timeline_start + o["headfuse_frame"])
        ev = seq.evaluated_get(bpy.context.evaluated_depsgraph_get())
        assert len(ev.data.vertices) == len(o.data.vertices)
        assert np.allclose(np.array(ev.matrix_world), np.array(o.matrix_world), atol=1e-5)  # head pose keyed
    from blender_addon import preview

    assert sorted(preview.CACHE) == [hf.timeline_start + i for i in range(FRAMES)]  # fields for the live preview
    assert preview.message(scene) == ""
    cam = bpy.data.objects["head camera"]
    assert scene.camera == cam and cam.data.lens > 1.0
    # A Workbench render through the plate camera shows the head in the middle of the frame.
    scene.frame_set(hf.timeline_start)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 96, 96, 100
    scene.render.film_transparent = True
    scene.render.filepath = str(tmp_path / "frame.png")
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(scene.render.filepath)
    alpha = np.array(image.pixels[:]).reshape(96, 96, 4)[..., 3]
    assert alpha[32:64, 32:64].mean() > 0.8 and alpha.mean() < 0.9


def test_server_down_gives_a_clear_error_in_the_panel(addon):
    addon.server_address = "tcp://127.0.0.1:9"  # nothing listens there
    scene = bpy.context.scene
    configure(scene.headfuse)
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene, timeout=60)
    assert "not reachable" in scene.headfuse.error and "127.0.0.1:9" in scene.headfuse.error


def test_cancel_mid_job(addon, server):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    hf = scene.headfuse
    configure(hf, frames=12)
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene, until=lambda: hf.frames_received >= 1)
    assert bpy.ops.headfuse.cancel() == {"FINISHED"}
    pump(scene)
    assert hf.error == "" and hf.frames_received < 12
    assert hf.status.startswith("cancelled")
    assert len(bpy.data.collections["head frames"].objects) == hf.frames_received - hf.skipped


def test_a_saved_blend_picks_up_its_running_job_when_reopened(addon, server, tmp_path):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    configure(scene.headfuse, frames=6)
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene, until=lambda: scene.headfuse.frames_received >= 1)
    path = str(tmp_path / "running.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    saved = scene.headfuse.frames_received
    bpy.ops.wm.open_mainfile(filepath=path)  # load_pre stops listening, load_post resumes from the file's state
    scene = bpy.context.scene
    hf = scene.headfuse
    assert hf.frames_received == saved and jobs.running(scene)
    pump(scene)
    assert hf.error == "" and hf.job_finished and hf.frames_received == 6
    assert sorted(o["headfuse_frame"] for o in bpy.data.collections["head frames"].objects) == list(range(6))


def test_missing_video_is_reported_without_contacting_the_server(addon):
    scene = bpy.context.scene
    scene.headfuse.video = "/nonexistent/clip.mp4"
    with pytest.raises(RuntimeError, match="video not found"):  # an operator's ERROR report raises in background mode
        bpy.ops.headfuse.reconstruct()
    assert "video not found: /nonexistent/clip.mp4" in scene.headfuse.error


def test_progress_rate_comes_from_frame_arrival_times(addon, scene):
    """frames/s and ETA count the frames after the runner's first, at a clock's real magnitude (a
    32-bit Blender float property once held the start time and showed a million fps)."""
    hf = scene.headfuse
    hf.frames_total = 10
    runner = jobs.JobRunner("tcp://127.0.0.1:1", None, "", "", {})  # never started: only its clock
    t0 = 1.8e9
    for received, arrived in ((1, t0), (2, t0 + 0.5), (3, t0 + 0.8)):
        hf.frames_received = received
        jobs._update_progress(hf, runner, arrived)
        if received == 1:
            assert hf.status == "1/10 frames"
    assert hf.status == "3/10 frames, 2.50 fps, ETA 3 s" and hf.progress == pytest.approx(0.3)


def test_the_scene_matches_the_clip_and_its_plate_stays_in_step(addon, server):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    other = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))  # the startup scene's camera
    scene.collection.objects.link(other)
    scene.camera = other
    scene.render.fps, scene.frame_start, scene.frame_end = 24, 1, 250
    hf = scene.headfuse
    configure(hf)
    hf.timeline_start = 101
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene)
    plate = bpy.data.objects["head camera"]
    assert scene.camera == plate  # made active although another camera existed
    assert scene.render.fps / scene.render.fps_base == pytest.approx(12.0)  # the clip's rate, not 24
    assert (scene.frame_start, scene.frame_end) == (101, 101 + FRAMES - 1)  # exports write these frames
    clip = plate.data.background_images[0].clip
    assert clip.frame_start == 101  # source frame 0 of the plate on timeline frame 101, with the first head
    heads = sorted(o["headfuse_frame"] for o in bpy.data.collections["head frames"].objects)
    assert heads == list(range(FRAMES))


def test_file_new_stops_the_job(addon, server):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    configure(scene.headfuse, frames=12)
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene, until=lambda: scene.headfuse.frames_received >= 1)
    runner = jobs._runners[scene.name]
    from blender_addon import preview

    preview.CACHE[1] = {"planes": None}  # a field cached for the scene going away
    bpy.ops.wm.read_homefile(use_empty=True)  # File > New
    runner.join(timeout=5)
    assert not runner.is_alive(), "the job thread went on after File > New"
    assert preview.CACHE == {}


def test_operators_that_change_the_scene_take_part_in_undo():
    from blender_addon import operators

    assert operators.HEADFUSE_OT_reconstruct.bl_options == {"REGISTER", "UNDO"}
    for op in (operators.HEADFUSE_OT_cancel, *operators.EXPORTS, operators.HEADFUSE_OT_start_backend):
        assert "REGISTER" in op.bl_options


def test_test_connection_reports_the_workers_and_a_server_that_is_not_there(addon, server):
    addon.server_address = server.endpoint
    hf = bpy.context.scene.headfuse
    assert bpy.ops.headfuse.test_connection() == {"FINISHED"}
    assert hf.connection.startswith(f"connected to {server.endpoint}") and "1 of 1 workers ready" in hf.connection
    addon.server_address = "tcp://127.0.0.1:9"
    with pytest.raises(RuntimeError):  # an operator's ERROR report raises in background mode
        bpy.ops.headfuse.test_connection()
    assert "no answer from the headfuse server at tcp://127.0.0.1:9" in hf.connection


def test_a_remote_server_needs_blenders_online_access(addon):
    assert not bpy.app.online_access  # Blender as a module runs with online access off
    addon.server_address = "tcp://10.1.2.3:5555"
    hf = bpy.context.scene.headfuse
    configure(hf)
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.headfuse.reconstruct()
    assert "Preferences > System > Network" in hf.error and not jobs.running(bpy.context.scene)


def test_a_backend_command_that_cannot_start_is_a_message_in_the_panel(addon):
    addon.start_local_backend, addon.backend_command = True, "no-such-headfuse-command serve"
    hf = bpy.context.scene.headfuse
    configure(hf)
    try:
        with pytest.raises(RuntimeError, match="could not start the local backend"):
            bpy.ops.headfuse.reconstruct()
        assert hf.error.startswith("could not start the local backend `no-such-headfuse-command serve`")
    finally:
        addon.start_local_backend = False


def test_paths_become_relative_when_the_blend_is_saved(addon, tmp_path):
    hf = bpy.context.scene.headfuse
    video = tmp_path / "plates" / "take1.mp4"
    video.parent.mkdir()
    video.write_bytes((SAMPLE / "video.mp4").read_bytes())
    hf.video = str(video)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    assert hf.video == "//plates/take1.mp4" and bpy.path.abspath(hf.video) == str(video)


def test_the_panel_has_its_sub_panels(addon):
    for name in ("input", "reconstruction", "output", "preview", "compositing", "server"):
        panel = getattr(bpy.types, f"VIEW3D_PT_headfuse_{name}")
        assert panel.bl_parent_id == "VIEW3D_PT_headfuse"


def _render(scene, path) -> np.ndarray:
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(path))
    w, h = image.size
    return np.array(image.pixels[:]).reshape(h, w, 4)[::-1]  # top row first, as the video's frames


def test_the_compositing_render_is_the_plate_outside_the_head(addon, server, tmp_path):
    import cv2

    addon.server_address = server.endpoint
    scene = bpy.context.scene
    hf = scene.headfuse
    configure(hf, frames=2)
    hf.mattes = True
    assert not bpy.ops.headfuse.composite.poll()  # nothing to composite over before the first frame
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene)
    mattes = sorted(Path(jobs.matte_folder(hf)).glob("matte.*.png"))  # the mattes, by timeline frame
    assert [p.name for p in mattes] == [f"matte.{hf.timeline_start + i:04d}.png" for i in range(2)]
    scene.frame_set(hf.timeline_start + 1)  # source frame 1
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.film_transparent, scene.render.use_compositing = True, False
    alpha = _render(scene, tmp_path / "head.png")[..., 3]  # where the head is
    assert bpy.ops.headfuse.composite(head="OVER") == {"FINISHED"}
    out = _render(scene, tmp_path / "composite.png")
    cap = cv2.VideoCapture(str(SAMPLE / "video.mp4"))
    cap.read()
    plate = cap.read()[1][..., ::-1] / 255.0  # source frame 1
    cap.release()
    outside, inside = alpha == 0, alpha > 0.99
    assert outside.mean() > 0.3 and inside.mean() > 0.05
    gap = np.abs(out[..., :3] - plate).max(-1) * 255
    assert gap[outside].max() <= 6, gap[outside].max()  # the plate itself (decoders differ by a few levels)
    assert gap[inside].mean() > 10  # the rendered head over it
    assert bpy.ops.headfuse.composite(head="HOLDOUT") == {"FINISHED"}
    assert bpy.data.objects["head"].is_holdout and scene.render.film_transparent


@pytest.mark.parametrize("topology", ["per-frame", "tracked"])
def test_the_export_operators_write_the_range_asked_for(addon, server, tmp_path, topology):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    configure(scene.headfuse, frames=3, topology=topology)
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene)
    scene.frame_start, scene.frame_end = 1, 40  # a longer scene than the clip
    path = tmp_path / "clip.abc"
    assert bpy.ops.headfuse.export_alembic(filepath=str(path), frame_range="CLIP") == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, 40)  # the scene is left as it was
    textures = sorted(p.name for p in (tmp_path / "clip_textures").glob("*.png"))
    if topology == "per-frame":
        assert len(textures) == 3  # frames 1-3, not 1-40
    else:
        assert textures == ["texture.png"]  # the tracked head's one texture
    custom = tmp_path / "two.usdc"
    assert bpy.ops.headfuse.export_usd(filepath=str(custom), frame_range="CUSTOM", first=2, last=3,
                                       camera=False) == {"FINISHED"}  # fmt: skip
    assert bpy.ops.headfuse.export_fbx(filepath=str(tmp_path / "h.fbx"), textures=False) == {"FINISHED"}
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.usd_import(filepath=str(custom))
    scene = bpy.context.scene
    assert "CAMERA" not in {o.type for o in scene.objects} and "MESH" in {o.type for o in scene.objects}
    assert (scene.frame_start, scene.frame_end) == (2, 3)


def test_a_scene_that_never_set_its_quality_takes_the_preferences(addon):
    from blender_addon import preferences

    assert addon.mesh_resolution == 128 and addon.texture_size == 1024  # the job options' own defaults
    addon.mesh_resolution, addon.texture_size = 64, 256
    try:
        fresh, tuned = bpy.data.scenes.new("fresh"), bpy.data.scenes.new("tuned")
        tuned.headfuse.mesh_resolution = 256  # set by the user: kept
        for scene in (fresh, tuned):
            preferences.apply_quality_defaults(scene)
        assert (fresh.headfuse.mesh_resolution, fresh.headfuse.texture_size) == (64, 256)
        assert (tuned.headfuse.mesh_resolution, tuned.headfuse.texture_size) == (256, 256)
    finally:
        addon.mesh_resolution, addon.texture_size = 128, 1024


def test_undo_after_frames_arrived_leaves_a_consistent_sequence(addon, server):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    configure(scene.headfuse, frames=3)
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene)
    scene.frame_set(1)  # the depsgraph evaluates another frame between ticks, as the UI's playback does
    assert bpy.ops.ed.undo() == {"FINISHED"}  # the last tick's frames go, nothing else
    scene = bpy.context.scene
    left = sorted(bpy.data.collections["head frames"].objects, key=lambda o: o["headfuse_frame"])
    assert 0 < len(left) < 3
    seq = bpy.data.objects["head"]
    for o in left:  # every frame left shows its own mesh and pose on the sequence
        scene.frame_set(scene.headfuse.timeline_start + o["headfuse_frame"])
        ev = seq.evaluated_get(bpy.context.evaluated_depsgraph_get())
        assert len(ev.data.vertices) == len(o.data.vertices)
        assert np.allclose(np.array(ev.matrix_world), np.array(o.matrix_world), atol=1e-5)
    scene.frame_set(scene.headfuse.timeline_start + left[-1]["headfuse_frame"] + 1)
    assert len(seq.evaluated_get(bpy.context.evaluated_depsgraph_get()).data.vertices) == 0


def test_a_tracked_job_lands_as_one_object_with_a_shape_key_per_frame(addon, server):
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    hf = scene.headfuse
    configure(hf, frames=2, topology="tracked")
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    pump(scene)
    assert hf.error == "" and hf.frames_received == 2, hf.error
    head = bpy.data.objects["head"]
    assert head.get("headfuse_tracked") and [k.name for k in head.data.shape_keys.key_blocks] == [
        "Basis", "f000000", "f000001"]  # fmt: skip
    assert len(head.data.vertices) == 15718 and bpy.data.collections.get("head frames") is None


def test_a_clip_texture_job_keeps_its_span_when_the_panel_changes(addon, server):
    """The head wears each newer frame's texture because the job asked for the clip's texture, whatever the
    panel says while the frames arrive."""
    addon.server_address = server.endpoint
    scene = bpy.context.scene
    hf = scene.headfuse
    configure(hf, frames=2, topology="tracked")
    hf.object_name, hf.texture_span = "clip head", "clip"
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    hf.texture_span = "frame"  # changed in the panel after the job went
    pump(scene, until=lambda: hf.frames_received >= 1)

    def worn():
        material = bpy.data.objects["clip head"].data.materials[0]
        node = next(n for n in material.node_tree.nodes if n.bl_idname == "ShaderNodeTexImage")
        return np.array(node.image.pixels[:])

    first = worn()
    pump(scene)
    assert hf.error == "" and hf.frames_received == 2, hf.error
    assert not np.array_equal(worn(), first)  # frame 1's fusion of the clip so far, not frame 0's texture
