"""`headfuse batch CLIPS... --out DIR [--ray ADDRESS|local]`: many clips, in chunks, locally or on a Ray cluster."""

import argparse
from pathlib import Path

from backend.commands.job_options import add_job_options, job_options_from_args

NAME = "batch"
HELP = "reconstruct many clips (files, globs or list files) in chunks, in this process or on a Ray cluster"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "clips", nargs="+", help="clips: video files, image folders, glob patterns, or list files (.txt/.list)"
    )
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder (one subfolder per clip)")
    parser.add_argument(
        "--ray", default=None, metavar="ADDRESS", help="run on a Ray cluster: head host:port, auto, or local"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="Ray actors (default: one per GPU of the cluster, else one per CPU)"
    )
    parser.add_argument("--chunk", type=int, default=32, help="frames per chunk (default 32)")
    parser.add_argument("--warmup", type=int, default=4, help="frames each chunk starts early to warm up (default 4)")
    parser.add_argument("--formats", default="glb", help="comma-separated mesh formats: glb, ply, obj")
    parser.add_argument("--preview", type=int, default=6, help="frames in each clip's preview.png (0: none)")
    parser.add_argument("--redo", action="store_true",
                        help="redo clips an earlier run into OUT finished (default: keep them, redo the rest)")
    add_job_options(parser)  # --ref-frame is the reference of clips without a sidecar


def run(args) -> int:
    import time

    from tqdm import tqdm

    from backend.batch import Batch, BatchError, BatchOptions, find_clips, summary_table
    from backend.mesh.writers import WRITERS

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in WRITERS]
    if bad:
        raise SystemExit(f"batch: unknown format(s) {', '.join(bad)}; choose from {', '.join(sorted(WRITERS))}")
    if args.chunk < 1 or args.warmup < 0 or args.workers < 0:
        raise SystemExit("batch: need --chunk >= 1, --warmup >= 0 and --workers >= 0")
    job = job_options_from_args(args, "batch")
    try:
        clips = find_clips(args.clips)
    except BatchError as exc:
        raise SystemExit(str(exc)) from None
    options = BatchOptions(
        job=job,
        formats=formats,
        chunk=args.chunk,
        warmup=args.warmup,
        preview_frames=max(0, args.preview),
        redo=args.redo,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        pool, ray_started = make_pool(args, job)
    except (RuntimeError, ConnectionError, FileNotFoundError) as exc:
        raise SystemExit(f"batch: {exc}") from None
    batch = Batch(clips, args.out, pool, options)
    interrupted = False
    t0 = time.perf_counter()
    try:
        batch.start()
        bar = tqdm(total=batch.frames_total, desc="batch", unit="frame")
        try:
            while not batch.finished:
                n = batch.step(0.2)
                if n:
                    bar.update(n)
                done = sum(c.done for c in batch.clips.values())
                failed = sum(c.error is not None for c in batch.clips.values())
                bar.set_postfix_str(f"clips {done}/{len(clips)} ({failed} failed)", refresh=False)
        except KeyboardInterrupt:
            interrupted = True
            batch.cancel()
            deadline = time.monotonic() + 30  # let running chunks stop at their next frame
            while pool.pending() and time.monotonic() < deadline:
                bar.update(batch.step(0.2))
        finally:
            bar.close()
    finally:
        batch.close()
        pool.close()
        if ray_started:
            import ray

            ray.shutdown()
    elapsed = time.perf_counter() - t0
    frames = sum(c.frames_done for c in clips if not c.kept)
    print(summary_table(clips))
    kept = [c for c in clips if c.kept]
    rate = frames / max(elapsed, 1e-9)
    if kept:
        print(f"batch: kept {len(kept)} clip(s) an earlier run finished with the same settings (--redo redoes them)")
    print(f"batch: {frames} frames in {elapsed:.1f} s ({rate:.2f} frames/s); outputs in {args.out}")
    if interrupted:
        print("batch: cancelled; finished frames are kept")
        return 130
    return 1 if any(c.error for c in clips) else 0


def make_pool(args, job):
    """A `RayPool` (with `--ray`) or an `InlinePool` on the batch's store, running with `job`'s weights and
    device; and whether Ray was started here."""
    from backend.batch import STORE_DIR
    from backend.execution.inline import InlinePool
    from backend.execution.ray_pool import RayPool, connect

    store = args.out / STORE_DIR
    if not args.ray:
        return InlinePool(store, job), False
    started = connect(args.ray)
    try:
        import ray

        workers = args.workers
        if workers == 0:
            res = ray.cluster_resources()
            workers = int(res.get("GPU", 0)) if job.device != "cpu" else 0
            workers = workers or max(1, int(res.get("CPU", 1)))
        return RayPool(workers, store, job), started
    except Exception:
        if started:
            ray.shutdown()
        raise
