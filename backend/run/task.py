"""What a worker does, as one plain function: a clip (or a frame range of it) in, finished frames into
the job store, progress out. Local worker processes call it (`backend.server.workers`); a cluster
engine can call the same function on other machines that see the same store.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


class WorkError(Exception):
    """A job that cannot go on: `code` is a protocol error code, `index` the source frame when one concerns it."""

    def __init__(self, code: str, message: str, index: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.index = index


@dataclass
class WorkTask:
    """One unit of work: reconstruct source frames `start, start + stride, ...` below `stop` of a clip
    and store them as frames `first_seq, first_seq + 1, ...` of `job`."""

    job: str
    """Job id (the store folder)."""
    video: str
    """The video (anything `backend.video` reads)."""
    reference: str
    """The reference image."""
    first_seq: int = 0
    """Store position of the first frame produced (frames before it are already stored)."""
    start: int = 0
    """First source frame."""
    stop: int | None = None
    """One past the last source frame (None: to the end)."""
    stride: int = 1
    """Take every stride-th source frame."""
    warmup: int = 0
    """Frames (in stride units) before `start` that are reconstructed first, to warm the recurrent state and the
    face tracker's smoothing, but neither stored nor reported (a chunk of a longer clip starts warm)."""
    mode: str = "fused"
    """Reconstruction mode: `fused` or `per-frame`."""
    mesh_resolution: int = 128
    """Marching-cubes cells per side."""
    texture_size: int = 512
    """Texture side in pixels (0: vertex colours only)."""
    no_face: str = "hold"
    """Policy for frames without a face: `hold` or `skip`."""
    reference_frame: int | None = None
    """Use this source frame of the video as the reference (the `reference` file is then ignored)."""
    triplanes: bool = False
    """Also store and send each frame's triplane and decoder (float16) for the live preview."""
    max_frames: int = 100_000
    """Most frames the job may have in all."""
    max_video_pixels: int = 4096 * 4096
    """Largest frame (width x height) accepted."""

    def to_dict(self) -> dict:
        """Plain data (for a pipe, a queue or a cluster task)."""
        return asdict(self)


def frame_record(out, job: str, seq: int, triplanes: bool = False) -> tuple[dict, list]:
    """A pipeline `FrameOutput` as a FRAME header (without its digest) and its raw buffers; with
    `triplanes`, the frame's field too (planes `[3, C, H, W]` and decoder arrays, float16)."""
    from backend.mesh.writers import png_bytes
    from backend.render.glsl import decoder_arrays
    from backend.units import METRES_PER_BOX_UNIT
    from blender_addon import protocol

    names, buffers = [], []
    mesh = out.mesh
    if mesh is not None:
        arrays = {
            "vertices": (mesh.vertices, np.float32),
            "faces": (mesh.faces, np.int32),
            "colors": (mesh.colors, np.uint8),
            "uv": (mesh.uv, np.float32),
            "normals": (mesh.normals, np.float32),
        }
        for name, (arr, dtype) in arrays.items():
            if arr is not None:
                arr = np.ascontiguousarray(arr, dtype=dtype)
                names.append(protocol.describe(name, arr))
                buffers.append(arr)
        if mesh.texture is not None:
            png = png_bytes(mesh.texture)
            names.append(protocol.describe("texture", png, "png", mesh.texture.shape))
            buffers.append(png)
    if triplanes and out.triplane is not None:
        field = {"planes": out.triplane.planes[0].detach().cpu().numpy(), **decoder_arrays(out.triplane.decoder)}
        for name, arr in field.items():
            arr = np.ascontiguousarray(arr, dtype=np.float16)
            names.append(protocol.describe(name, arr))
            buffers.append(arr)
    header = {
        "job": job,
        "seq": seq,
        "index": int(out.index),
        "status": out.status,
        "reason": out.reason,
        "camera": out.camera,
        "timings_ms": {k: round(float(v), 3) for k, v in out.timings_ms.items()},
        "metres_per_box_unit": METRES_PER_BOX_UNIT,
        "buffers": names,
    }
    return header, buffers


def _check_inputs(task: WorkTask):
    from backend.video import VideoError, iter_frames, open_video, read_image

    try:
        info = open_video(task.video).info
    except (FileNotFoundError, VideoError) as exc:
        raise WorkError("bad_video", f"video: {exc}") from None
    if info.width and info.height and info.width * info.height > task.max_video_pixels:
        raise WorkError(
            "too_large",
            f"video frames are {info.width}x{info.height}; this server accepts at most {task.max_video_pixels} pixels",
        )
    if info.frame_count is not None:
        end = info.frame_count if task.stop is None else min(task.stop, info.frame_count)
        count = max(0, (end - task.start + task.stride - 1) // task.stride)
        if task.first_seq + count > task.max_frames:
            msg = f"{task.first_seq + count} frames; this server accepts at most {task.max_frames}"
            raise WorkError("too_large", msg)
    if task.reference_frame is not None:
        frame = next(iter_frames(task.video, task.reference_frame, task.reference_frame + 1), None)
        if frame is None or not frame.ok:
            why = frame.error if frame is not None else f"the video has no frame {task.reference_frame}"
            raise WorkError("bad_reference", f"reference frame {task.reference_frame}: {why}")
        return info, frame.image
    try:
        return info, read_image(task.reference)
    except (FileNotFoundError, VideoError) as exc:
        raise WorkError("bad_reference", f"reference: {exc}") from None


def run_task(
    task: WorkTask,
    store,
    networks,
    report: Callable[[dict], None],
    should_stop: Callable[[], bool],
    device: str = "cpu",
    on_frame: Callable[[object, int], None] | None = None,
) -> dict:
    """Run `task` with `networks` (a `pipeline.Networks`): every finished frame is written to `store` (a
    `JobStore`) before `report` hears of it.

    `report` receives plain dicts: `{"event": "started", "frames_total"}` then `{"event": "frame", "seq",
    "index", "status", "reason"}` per frame. `should_stop()` is asked between frames (True stops the work).
    With `task.warmup`, the pipeline starts `warmup * stride` source frames before `start` (as many as there
    are before it) and those frames are dropped. `on_frame(output, seq)`, when given, gets each stored frame's pipeline
    `FrameOutput` after it is stored and before it is reported (extra per-frame outputs, e.g. mesh files).
    Returns `{"state": "done" | "cancelled", "frames", "ok", "held", "skipped"}` counting this task's
    frames; raises `WorkError` for input the job cannot use.
    """
    from backend.config import MeshConfig
    from backend.face.config import FaceConfig
    from backend.face.preprocess import NoFaceError
    from backend.pipeline import ReconstructConfig, reconstruct_clip

    info, reference = _check_inputs(task)
    total = None
    if info.frame_count is not None:
        end = info.frame_count if task.stop is None else min(task.stop, info.frame_count)
        total = task.first_seq + max(0, (end - task.start + task.stride - 1) // task.stride)
    report({"event": "started", "frames_total": total})
    if task.warmup < 0:
        raise WorkError("bad_options", f"warmup must be >= 0, not {task.warmup}")
    cfg = ReconstructConfig(
        mode=task.mode,
        mesh=MeshConfig(resolution=task.mesh_resolution, texture_size=task.texture_size),
        face=FaceConfig(no_face=task.no_face),
        start=task.start - min(task.warmup, task.start // task.stride) * task.stride,  # same phase as start
        stop=task.stop,
        stride=task.stride,
        device=device,
    )
    counts = {"ok": 0, "held": 0, "skipped": 0}
    seq = task.first_seq
    if task.mode == "fused" and networks.fusion is None:
        raise WorkError("bad_options", f"mode fused: {networks.fusion_error}")
    frames = reconstruct_clip(task.video, reference, cfg, lifter=networks.lifter, fusion=networks.fusion)
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
            if out.index < task.start:
                continue  # a warm-up frame
            if seq >= task.max_frames:
                raise WorkError("too_large", f"more than {task.max_frames} frames", out.index)
            header, buffers = frame_record(out, task.job, seq, task.triplanes)
            store.write_frame(task.job, seq, header, buffers)
            if on_frame is not None:
                on_frame(out, seq)
            counts[out.status] += 1
            report({"event": "frame", "seq": seq, "index": int(out.index), "status": out.status, "reason": out.reason})
            seq += 1
    finally:
        frames.close()
    return {"state": "done", "frames": seq - task.first_seq, **counts}
