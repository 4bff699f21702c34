"""The one run path: a clip (or a frame range of it), its options and an output sink in, finished frames
into the sink, progress out (`run_task`).

`headfuse reconstruct` runs it into a folder (`sinks.FolderSink`); the server's worker processes and Ray
actors into the job store (`sinks.StoreSink`), and a batch's chunks into the store and the clip's folder
(`sinks.Both`). Input the job cannot use raises `WorkError` with a protocol error code and one line.
"""

import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from headfuse_wire.options import OptionError, ReconstructConfig

RESUME_WARMUP = 4
"""Frames (in stride units) a task that continues a clip part-way starts early (`WorkTask.warmup`): a batch
chunk after a clip's first, a job resumed after a restart. Enough for the fused state and the tracker's
smoothing to settle back onto what an uninterrupted run has there."""


class WorkError(Exception):
    """A job that cannot go on: `code` is a protocol error code, `index` the source frame when one concerns it."""

    def __init__(self, code: str, message: str, index: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.index = index


@dataclass
class WorkTask:
    """One unit of work: reconstruct the source frames `options` names (start, stride, below stop) of a clip
    and store them as frames `first_seq, first_seq + 1, ...` of `job`."""

    job: str
    """Job id (the store folder)."""
    video: str
    """The video (anything `backend.video` reads)."""
    reference: str
    """The reference image (ignored when the options name a `reference_frame`)."""
    options: dict = field(default_factory=dict)
    """`ReconstructConfig` fields of the job (the frame range is this task's); the worker's own weights and
    device are used whatever these say."""
    first_seq: int = 0
    """Store position of the first frame produced (frames before it are already stored)."""
    warmup: int = 0
    """Frames (in stride units) before `start` that are reconstructed first, to warm the recurrent state and the
    face tracker's smoothing, but neither stored nor reported (a chunk of a longer clip starts warm)."""
    max_frames: int | None = 100_000
    """Most frames the job may have in all (None: no limit)."""
    max_video_pixels: int | None = 4096 * 4096
    """Largest frame (width x height) accepted (None: no limit)."""

    def config(self) -> ReconstructConfig:
        """The task's options, validated (`WorkError` `bad_options` when they are not)."""
        try:
            return ReconstructConfig(**self.options).validate()
        except (TypeError, OptionError) as exc:
            raise WorkError("bad_options", str(exc)) from None

    def where(self) -> str:
        """The clip and frame range, for messages: `VIDEO frames A..B`."""
        stop = self.options.get("stop")
        return f"{self.video} frames {self.options.get('start', 0)}..{'end' if stop is None else stop}"

    def to_dict(self) -> dict:
        """Plain data (for a pipe, a queue or a cluster task)."""
        return asdict(self)


def _check_inputs(task: WorkTask, cfg: ReconstructConfig):
    from backend.pipeline import frame_count, reference_image
    from backend.video import VideoError, open_video

    try:
        reader = open_video(task.video)  # the one opening of the clip: its info, the reference frame, the frames
    except (FileNotFoundError, VideoError) as exc:
        raise WorkError("bad_video", f"video: {exc}") from None
    info = reader.info
    if task.max_video_pixels and info.width and info.height and info.width * info.height > task.max_video_pixels:
        raise WorkError(
            "too_large",
            f"video frames are {info.width}x{info.height}; this server accepts at most {task.max_video_pixels} pixels",
        )
    count = frame_count(info, cfg)
    if task.first_seq == 0 and count == 0 and info.frame_count:
        stop = "" if cfg.stop is None else cfg.stop
        raise WorkError("bad_options", f"frame range {cfg.start}:{stop} is past the end: {Path(task.video).name} "
                        f"has {info.frame_count} frames (0 to {info.frame_count - 1})")  # fmt: skip
    if task.max_frames is not None and count is not None and task.first_seq + count > task.max_frames:
        msg = f"{task.first_seq + count} frames; this server accepts at most {task.max_frames}"
        raise WorkError("too_large", msg)
    try:
        return reader, reference_image(reader, task.reference, cfg)
    except (FileNotFoundError, VideoError) as exc:
        raise WorkError("bad_reference", str(exc) if cfg.reference_frame is not None else f"reference: {exc}") from None


def run_task(
    task: WorkTask,
    sink,
    networks,
    report: Callable[[dict], None],
    should_stop: Callable[[], bool],
    device: str = "cpu",
) -> dict:
    """Run `task` with `networks` (a `models.weights.Networks`): every finished frame goes to `sink` (see
    `backend.run.sinks`) before `report` hears of it.

    `report` receives plain dicts: `{"event": "started", "frames_total"}` then `{"event": "frame", "seq",
    "index", "status", "reason"}` per frame, with the frame's manifest `entry` when the sink wrote files
    for it. `should_stop()` is asked between frames (True stops the work). With `task.warmup`, the pipeline
    starts `warmup * stride` source frames before `start` (as many as there are before it) and those frames
    are dropped; with tracked topology and a `stop`, it also reads the `track_smoothing * stride` frames after
    it (the centred smoothing's window) and drops them, so a chunk's last frames are smoothed as in the
    whole clip. Returns `{"state": "done" | "cancelled", "frames", "ok", "held", "skipped"}` counting this
    task's frames; raises `WorkError` for input the job cannot use.
    """
    from backend.face.preprocess import NoFaceError
    from backend.pipeline import frame_count, reconstruct_clip

    o = task.options
    if o.get("stop") is not None and o.get("start", 0) >= o["stop"]:  # a resumed job whose frames are all stored
        report({"event": "started", "frames_total": task.first_seq})
        return {"state": "done", "frames": 0, "ok": 0, "held": 0, "skipped": 0}
    cfg = task.config()
    reader, reference = _check_inputs(task, cfg)
    if cfg.reference_frame is not None:
        reference_name = f"reference frame {cfg.reference_frame} of {Path(task.video).name}"
    else:
        reference_name = task.reference
    info = reader.info
    count = frame_count(info, cfg)
    total = None if count is None else task.first_seq + count
    sink.start({"fps": info.fps, "width": info.width, "height": info.height, "frames_total": total})
    report({"event": "started", "frames_total": total})
    if task.warmup < 0:
        raise WorkError("bad_options", f"warmup must be >= 0, not {task.warmup}")
    first, last = cfg.start, cfg.stop
    early = min(task.warmup, cfg.start // cfg.stride) * cfg.stride  # same phase as start
    # tracked vertices are smoothed over a centred window: the frames after the range's end are read too
    late = cfg.track_smoothing * cfg.stride if cfg.topology == "tracked" and last is not None else 0
    cfg = replace(cfg, start=cfg.start - early, stop=None if last is None else last + late, reference_frame=None,
                  device=device)  # fmt: skip
    counts = {"ok": 0, "held": 0, "skipped": 0}
    seq = task.first_seq
    if cfg.mode == "fused" and networks.fusion is None:
        raise WorkError("bad_options", f"mode fused: {networks.fusion_error}")
    frames = reconstruct_clip(reader, reference, cfg, lifter=networks.lifter, fusion=networks.fusion,
                              reference_name=reference_name)
    try:
        while True:
            if should_stop():
                return {"state": "cancelled", "frames": seq - task.first_seq, **counts}
            try:
                out = next(frames, None)
            except NoFaceError as exc:
                raise WorkError("no_face", str(exc)) from None
            except ValueError as exc:
                raise WorkError("bad_options", str(exc)) from None
            if out is None:
                break
            if out.index < first or (last is not None and out.index >= last):
                continue  # a warm-up frame, or one after the range that only the smoothing needed
            if task.max_frames is not None and seq >= task.max_frames:
                raise WorkError("too_large", f"more than {task.max_frames} frames", out.index)
            entry = sink.write(out, seq)
            counts[out.status] += 1
            event = {"event": "frame", "seq": seq, "index": int(out.index), "status": out.status,
                     "reason": out.reason, "cut": bool(out.cut)}
            report(event if entry is None else {**event, "entry": entry})
            seq += 1
    finally:
        frames.close()
    return {"state": "done", "frames": seq - task.first_seq, **counts}


def no_usable_face(video: str, reference: str, frames: int, reasons: list[str | None]) -> str:
    """The one line for a clip none of whose `frames` gave a mesh, from its skip `reasons`: when every face
    seen was another person, the reference image shows someone not in the video."""
    from collections import Counter

    from backend.face.preprocess import skip_kind

    kinds = Counter(skip_kind(r) for r in reasons)
    if kinds and kinds["another person"] and not kinds["no face"] and not kinds["other"]:
        return (f"the person in {reference or 'the reference'} is in no frame of {video}: every face in its "
                f"{frames} frames is another person (is it the right reference image?)")
    first = next((r for r in reasons if r), None)
    return f"no usable face in any of the {frames} frames (first reason: {first})"


TERMINAL_EVENTS = ("finished", "failed")
"""The last report of every task."""


def task_events(task: WorkTask, sink, networks, device: str, should_stop):
    """`run_task` in a thread, its reports as a generator of dicts (each with `job`) ending with
    `{"event": "finished", "state", "frames", "ok", "held", "skipped"}` or `{"event": "failed", "code",
    "message", "index"}` (a `WorkError`, or `internal` for anything else): what every pool reports."""
    events: queue.SimpleQueue = queue.SimpleQueue()

    def work() -> None:
        try:
            result = run_task(task, sink, networks, events.put, should_stop, device=device)
            events.put({"event": "finished", **result})
        except WorkError as exc:
            events.put({"event": "failed", "code": exc.code, "message": exc.message, "index": exc.index})
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            events.put({"event": "failed", "code": "internal", "message": message, "index": None})

    thread = threading.Thread(target=work, name=f"headfuse-task-{task.job}", daemon=True)
    thread.start()
    while True:
        event = events.get()
        yield {**event, "job": task.job}
        if event["event"] in TERMINAL_EVENTS:
            thread.join()
            return
