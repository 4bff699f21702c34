"""Batch benchmark: the same clips, in the same chunks, through a Ray actor and through the local path.

Clips are cut from the sample clip (3 clips of 12 frames; `--quick`: 3 of 6), split into chunks of 6
frames with 2 warm-up frames. Both sides run one worker with one torch thread, networks loaded before
the clock starts; the wall time is from queueing the first chunk to the last frame's manifest entry.
`ray_overhead_ratio` = Ray seconds / local seconds (goal <= 1.15).

`projected_speedup_8_gpus`: the scheduling of `RayPool` (queued chunks in order, each to the first
free worker) simulated for 8 workers on a show-sized batch (the measured clips repeated 21 times: 63 clips),
with each chunk costing what it cost through Ray in this run (its actor's time from the previous chunk's
end to its own, so dispatch and warm-up frames are included); the baseline is the same chunks on the
local path, one worker. Goal >= 7.
"""

import heapq
import tempfile
import time
from pathlib import Path

CLIPS = 3
SHOW_CLIPS = 63
WORKERS = 8


class _Timed:
    """A pool wrapper that notes when each chunk ends (seconds since `t0`)."""

    def __init__(self, pool):
        self.pool = pool
        self.t0 = time.perf_counter()
        self.ends: list[tuple[str, int, float]] = []

    def submit(self, task, outputs=None):
        self.pool.submit(task, outputs)

    def pending(self):
        return self.pool.pending()

    def cancel(self, job):
        return self.pool.cancel(job)

    def poll(self, timeout):
        events = self.pool.poll(timeout)
        for task, event in events:
            if event["event"] in ("finished", "failed"):
                self.ends.append((task.job, task.options["start"], time.perf_counter() - self.t0))
        return events


def cut_sample_clip(dst: Path, first: int, count: int, reference: bool = True) -> Path:
    """Frames `first .. first + count - 1` of the shipped sample clip written as the clip `dst` (mp4), with the
    sample's reference image beside it as the sidecar `NAME.ref.png` when `reference`."""
    import shutil

    from backend.synth import SAMPLE_CLIP_DIR
    from backend.video import iter_frames, write_video

    frames = (f.image for f in iter_frames(SAMPLE_CLIP_DIR / "video.mp4", first, first + count))
    if write_video(dst, frames, 12.0) != count:
        raise ValueError(f"the sample clip has fewer than {first + count} frames")
    if reference:
        shutil.copy(SAMPLE_CLIP_DIR / "reference.png", dst.with_name(dst.stem + ".ref.png"))
    return dst


def simulate(costs: list[float], workers: int) -> float:
    """Makespan of running `costs` (seconds, in queue order) on `workers`, each chunk to the first free worker."""
    free = [0.0] * workers
    heapq.heapify(free)
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def _run_batch(pool, clips: list[Path], out: Path, options) -> tuple[float, list[float]]:
    """Wall seconds of a batch and each chunk's cost in queue order (time since the previous chunk's end)."""
    from backend.batch import Batch, find_clips

    timed = _Timed(pool)
    batch = Batch(find_clips([str(c) for c in clips]), out, timed, options)
    timed.t0 = time.perf_counter()
    batch.start()
    while not batch.finished:
        batch.step(0.05)
    wall = time.perf_counter() - timed.t0
    batch.close()
    failed = [c.error for c in batch.clips.values() if c.error]
    if failed:
        raise RuntimeError(f"bench batch: a clip failed: {failed[0]}")
    ends = sorted(timed.ends, key=lambda e: e[2])
    costs = [t - (ends[k - 1][2] if k else 0.0) for k, (_, _, t) in enumerate(ends)]
    order = {(job, start): cost for (job, start, _), cost in zip(ends, costs, strict=True)}
    queued = sorted(order, key=lambda key: (key[0], key[1]))
    return wall, [order[key] for key in queued]


def run(args) -> dict:
    """Local and Ray runs of the same batch; the overhead ratio and the projected 8-worker speedup."""
    from backend.batch import BatchOptions
    from backend.execution.inline import InlinePool
    from backend.execution.ray_pool import RayPool, connect
    from headfuse_wire.options import ReconstructConfig

    quick = bool(getattr(args, "quick", False))
    frames = 6 if quick else 12
    job = ReconstructConfig(mode=getattr(args, "mode", "per-frame"), mesh_resolution=64, texture_size=128, device="cpu")
    options = BatchOptions(job=job, chunk=6, warmup=2, preview_frames=0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [cut_sample_clip(tmp / f"clip{k}.mp4", 10 * k, frames) for k in range(CLIPS)]
        local = InlinePool(tmp / "local" / ".store", defaults=job, threads=1)
        local_s, local_costs = _run_batch(local, clips, tmp / "local", options)
        local.close()
        del local
        started = connect("local")
        try:
            pool = RayPool(1, tmp / "ray" / ".store", defaults=job, threads=1)
            ray_s, ray_costs = _run_batch(pool, clips, tmp / "ray", options)
            pool.close()
        finally:
            if started:
                import ray

                ray.shutdown()
    repeat = SHOW_CLIPS // CLIPS
    makespan = simulate(ray_costs * repeat, WORKERS)
    serial_local = sum(local_costs) * repeat
    return {
        "ray_overhead_ratio": round(ray_s / local_s, 3),
        "projected_speedup_8_gpus": round(serial_local / makespan, 2),
        "clips": CLIPS,
        "frames_per_clip": frames,
        "chunk": options.chunk,
        "warmup": options.warmup,
        "mesh_res": options.mesh_resolution,
        "texture": options.texture_size,
        "mode": options.mode,
        "local_s": round(local_s, 2),
        "ray_s": round(ray_s, 2),
        "local_chunk_s": [round(c, 2) for c in local_costs],
        "ray_chunk_s": [round(c, 2) for c in ray_costs],
        "projected_batch": {
            "clips": repeat * CLIPS,
            "chunks": len(ray_costs) * repeat,
            "workers": WORKERS,
            "local_serial_s": round(serial_local, 1),
            "ray_makespan_s": round(makespan, 1),
        },
    }
