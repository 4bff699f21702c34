"""Jobs seen from Blender: networking on a background thread, results on the main thread.

A `JobRunner` thread talks to the server through `client.Client` (submit, then stream frames with
credits) and only ever puts events on a queue. `drain` runs on Blender's main thread from a
`bpy.app.timers` callback: it builds the arrived frames into the scene and updates the panel, a
few frames per tick, so the UI never freezes and frames appear on the timeline as they arrive.
"""

import queue
import threading
import time

import bpy

from . import importer, preview, tracked
from .wire import client

Client, RemoteError, ServerUnavailable = client.Client, client.RemoteError, client.ServerUnavailable

FRAMES_PER_TICK = 4
TICK_S = 0.1

_runners: dict[str, "JobRunner"] = {}  # by scene name


class JobRunner(threading.Thread):
    """Submit (or resume) one job and stream its frames into `events`."""

    def __init__(
        self,
        address: str,
        keys: str | None,
        video: str,
        reference: str,
        options: dict,
        job: str | None = None,
        start_seq: int = 0,
    ):
        super().__init__(daemon=True, name="headfuse-job")
        self.address, self.keys = address, keys or None
        self.video, self.reference, self.options = video, reference, options
        self.job, self.start_seq = job, start_seq
        self.events: queue.Queue = queue.Queue()
        self.stopping = threading.Event()
        self.first_frame: tuple[float, int] | None = None
        """(monotonic arrival time, frames received) of this runner's first frame; the panel's rate
        counts the frames that arrived after it (main thread only)."""

    def run(self) -> None:
        try:
            with Client(self.address, curve_keys=self.keys, timeout=10.0, reconnect_timeout=120.0) as client:
                self.events.put(("connected", client.hello()))
                if self.job is None:
                    self.job = client.submit(
                        self.video,
                        self.reference,
                        self.options,
                        on_upload=lambda name, sent, size: self.events.put(("upload", name, sent, size)),
                    )
                self.events.put(("job", self.job))
                frames = client.frames(self.job, self.start_seq, on_progress=lambda h: self.events.put(("progress", h)),
                                       should_stop=self.stopping.is_set)  # fmt: skip
                for frame in frames:
                    self.events.put(("frame", frame, time.monotonic()))
                if self.stopping.is_set():
                    return  # File > New or another file loaded: the server keeps the job, this scene is gone
                self.events.put(("done", client.status(self.job)))
        except ServerUnavailable as exc:
            self.events.put(("error", f"server not reachable at {exc.address}: {exc}"))
        except RemoteError as exc:
            self.events.put(("error", f"server error {exc.code}: {exc.message}"))
        except Exception as exc:  # anything else still reaches the panel instead of a silent thread death
            self.events.put(("error", f"{type(exc).__name__}: {exc}"))


def stop_all() -> None:
    """Stop listening to every job (the server keeps working; reopening the .blend picks the job up)."""
    for runner in list(_runners.values()):
        runner.stopping.set()
    _runners.clear()


def cancel_job(address: str, keys: str | None, job: str) -> None:
    """Ask the server to cancel `job` (a separate short connection: clients are one per thread)."""
    with Client(address, curve_keys=keys or None, timeout=5.0) as client:
        client.cancel(job)


def start(scene: bpy.types.Scene, runner: JobRunner) -> None:
    """Run `runner` for `scene` and register the timer that drains its events."""
    _runners[scene.name] = runner
    runner.start()
    scene_name = scene.name
    bpy.app.timers.register(lambda: drain(scene_name), first_interval=TICK_S)


def running(scene: bpy.types.Scene) -> bool:
    """True while a job thread works for this scene."""
    r = _runners.get(scene.name)
    return r is not None and r.is_alive()


def frame_dict(frame) -> dict:
    """A `client.Frame` as the importer's frame dict."""
    return {
        "index": frame.index,
        "vertices": frame.vertices,
        "faces": frame.faces,
        "colors": frame.colors,
        "uv": frame.uv,
        "texture_png": frame.texture_png,
        "camera": frame.camera,
    }


def _redraw() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            area.tag_redraw()


def drain(scene_name: str):
    """Timer callback (main thread): apply queued events; returns the next interval, or None when done."""
    scene = bpy.data.scenes.get(scene_name)
    runner = _runners.get(scene_name)
    if scene is None or runner is None:
        return None
    hf = scene.headfuse
    built = 0
    while built < FRAMES_PER_TICK:
        try:
            event = runner.events.get_nowait()
        except queue.Empty:
            break
        kind = event[0]
        if kind == "connected":
            hf.connection = f"connected to {runner.address} (protocol {event[1]['version']})"
        elif kind == "upload":
            _, name, sent, size = event
            hf.status = f"uploading {name}: {sent * 100 // max(size, 1)} %"
        elif kind == "job":
            hf.job_id, hf.error = event[1], ""
            hf.status = "queued"
        elif kind == "progress":
            header = event[1]
            hf.frames_total = int(header.get("frames_total") or hf.frames_total)
        elif kind == "frame":
            frame = event[1]
            if frame.vertices is not None:
                if frame.topology is not None:  # the job's topology and texture span, not the panel's now
                    latest = runner.options.get("texture_span") == "clip"
                    tracked.add_tracked_frame(scene, hf.object_name, frame_dict(frame), hf.timeline_start,
                                              _texture_dir(hf), latest_texture=latest)  # fmt: skip
                else:
                    importer.add_frame(scene, hf.object_name, frame_dict(frame), hf.timeline_start, _texture_dir(hf))
                if frame.triplane is not None:
                    preview.set_frame_triplane(
                        hf.timeline_start + frame.index,
                        frame.triplane["planes"],
                        {k: frame.triplane[k] for k in ("w1", "b1", "w2", "b2")},
                        frame.camera,
                        frame.metres_per_box_unit,
                    )
                if frame.camera and hf.frames_received == 0:
                    _setup_plate(scene, hf, frame.camera)
            else:
                hf.skipped += 1
            if frame.matte_png is not None:
                save_matte(matte_folder(hf), hf.timeline_start + frame.index, frame.matte_png)
            hf.shots = shots_text(hf.shots, frame.index, frame.cut, frame.status == "ok")
            hf.frames_received += 1
            built += 1
            _update_progress(hf, runner, event[2])
        elif kind == "done":
            record = event[1]
            hf.status = f"{record.get('state', 'done')}: {hf.frames_received} frames ({hf.skipped} skipped)"
            hf.progress = 1.0 if record.get("state") == "done" else hf.progress
            hf.job_finished = True
        elif kind == "error":
            hf.error = event[1]
            hf.status = "failed"
    if built:  # a timer's changes get no undo step of their own: Ctrl+Z would take them with the user's last
        bpy.ops.ed.undo_push(message=f"headfuse: {built} frame{'s' if built > 1 else ''}")
    _redraw()
    if runner.is_alive() or not runner.events.empty():
        return TICK_S
    _runners.pop(scene_name, None)
    return None


def shots_text(text: str, index: int, cut: bool, seen: bool) -> str:
    """The panel's shot list with one more frame: one line per shot, `first-last: reference person seen` or
    `... not seen`; a cut (or the first frame) starts a line."""
    lines = text.splitlines()
    if cut or not lines:
        lines.append(f"{index}-{index}: {'reference person seen' if seen else 'reference person not seen'}")
        return "\n".join(lines)
    first, rest = lines[-1].split("-", 1)
    was_seen = rest.endswith(": reference person seen")
    lines[-1] = f"{first}-{index}: {'reference person seen' if seen or was_seen else 'reference person not seen'}"
    return "\n".join(lines)


def matte_folder(hf) -> str:
    """Where a job's mattes go: `//NAME_mattes` beside the saved .blend, else Blender's temporary folder."""
    import os

    if bpy.data.filepath:
        return bpy.path.abspath(f"//{hf.object_name}_mattes")
    return os.path.join(bpy.app.tempdir, f"{hf.object_name}_mattes")


def save_matte(folder: str, timeline_frame: int, png: bytes) -> str:
    """One frame's matte as `folder/matte.NNNN.png` (NNNN: the timeline frame, so Blender plays the folder
    as an Image Sequence in step with the plate); returns the path."""
    import os

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"matte.{timeline_frame:04d}.png")
    with open(path, "wb") as f:
        f.write(png)
    return path


def _texture_dir(hf) -> str | None:
    if hf.texture_storage != "FOLDER" or not bpy.data.filepath:
        return None  # packed into the .blend (also the fallback for an unsaved file)
    return bpy.path.abspath(f"//{hf.object_name}_textures")


def _setup_plate(scene, hf, camera: dict) -> None:
    rig = importer.ensure_rig(scene, hf.object_name)
    try:
        clip = bpy.data.movieclips.load(bpy.path.abspath(hf.video), check_existing=True)
        width, height = clip.size
    except RuntimeError:
        return  # a format Blender cannot play: keep the head, skip the plate
    importer.set_plate_camera(rig["camera"], camera, width, height, scene)
    importer.set_plate_background(rig["camera"], bpy.path.abspath(hf.video), scene, hf.timeline_start)


def _update_progress(hf, runner: JobRunner, arrived: float) -> None:
    """Progress, and frames/s and ETA from the arrival times of the frames after this runner's first
    (kept on the runner: a Blender float property is 32-bit, too coarse for a clock)."""
    if runner.first_frame is None:
        runner.first_frame = (arrived, hf.frames_received)
    total = max(hf.frames_total, hf.frames_received, 1)
    hf.progress = hf.frames_received / total
    t0, n0 = runner.first_frame
    if hf.frames_received == n0 or arrived <= t0:
        hf.status = f"{hf.frames_received}/{total} frames"
        return
    rate = (hf.frames_received - n0) / (arrived - t0)
    eta = (total - hf.frames_received) / rate
    hf.status = f"{hf.frames_received}/{total} frames, {rate:.2f} fps, ETA {eta:.0f} s"
