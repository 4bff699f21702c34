"""`headfuse reconstruct VIDEO --ref IMAGE -o OUT`: a textured mesh per frame, a manifest, a preview."""

import argparse
from pathlib import Path

from backend.commands.job_options import add_job_options, job_options_from_args

NAME = "reconstruct"
HELP = "reconstruct a video into per-frame textured meshes (GLB; PLY/OBJ on request) with a manifest and preview"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "video", help="video file, animated GIF, image, image folder or printf pattern (frames/%%04d.png)"
    )
    parser.add_argument("--ref", default=None, help="near-frontal reference image of the same person")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--formats", default="glb", help="comma-separated mesh formats: glb, ply, obj")
    add_job_options(parser)


def run(args) -> int:
    import time
    from collections import Counter

    from tqdm import tqdm

    from backend.device import resolve_device
    from backend.face.preprocess import skip_kind
    from backend.files import writable_folder
    from backend.mesh.writers import WRITERS
    from backend.models.weights import load_networks
    from backend.run.sinks import FolderSink
    from backend.run.task import WorkError, WorkTask, no_usable_face, run_task

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in WRITERS]
    if bad:
        raise SystemExit(f"reconstruct: unknown format(s) {', '.join(bad)}; choose from {', '.join(sorted(WRITERS))}")
    cfg = job_options_from_args(args, "reconstruct")
    if args.ref is None and cfg.reference_frame is None:
        raise SystemExit("reconstruct: give a reference image (--ref IMAGE) or a frame of the video (--ref-frame N)")
    try:
        writable_folder(args.out)
    except OSError as exc:
        raise SystemExit(f"reconstruct: output folder {args.out}: {exc.strerror or exc} (expected a folder "
                         f"that can be made and written)") from None  # fmt: skip
    try:
        device = resolve_device(cfg.device)
        networks = load_networks(cfg.weights, cfg.fusion_weights, device)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"reconstruct: {exc}") from None
    if cfg.mode == "fused" and networks.fusion is None:
        raise SystemExit(f"reconstruct: mode fused: {networks.fusion_error}")
    task = WorkTask("reconstruct", str(args.video), str(args.ref or ""), cfg.to_wire(), max_frames=None,
                    max_video_pixels=None)  # fmt: skip
    sink = FolderSink(args.out, str(args.video), args.ref, cfg, formats)
    bar = None  # made at the first frame: a run refused before any frame shows only its reason
    total = {"frames": None}
    kinds = Counter()  # skipped frames by case: another person, shot cut, no face, other
    t0 = time.perf_counter()

    def report(event: dict) -> None:
        nonlocal bar
        if event["event"] == "started":
            total["frames"] = event["frames_total"]
        elif event["event"] == "frame":
            if bar is None:
                bar = tqdm(desc="reconstruct", unit="frame", total=total["frames"])
            bar.update(1)
            if event["status"] == "skipped":
                kinds[skip_kind(event["reason"])] += 1
            done = len(sink.manifest["frames"])
            bar.set_postfix(fps=f"{done / (time.perf_counter() - t0):.2f}", skipped=sum(kinds.values()),
                            **{k.replace(" ", "_"): n for k, n in kinds.items() if n})

    preview = None
    try:
        try:
            run_task(task, sink, networks, report, lambda: False, str(device))
        finally:
            if bar is not None:
                bar.close()
            try:  # what is done stays on disk and indexed, also after Ctrl+C
                preview = sink.close(time.perf_counter() - t0)
            except OSError:
                pass  # the disk refused: the manifest written after the last frame stands
    except WorkError as exc:
        where = f" (frame {exc.index})" if exc.index is not None else ""
        raise SystemExit(f"reconstruct: {exc.message}{where}") from None
    except OSError as exc:
        raise SystemExit(f"reconstruct: output folder {args.out}: cannot write {exc.filename or ''}: "
                         f"{exc.strerror or exc}") from None  # fmt: skip
    frames, skipped = sink.manifest["frames"], sink.manifest["skipped"]
    if skipped and not frames:
        why = no_usable_face(str(args.video), str(args.ref or ""), len(skipped), [s["reason"] for s in skipped])
        print(f"reconstruct: {why}; the manifest in {args.out} lists every frame's reason")
        return 1
    out = args.out
    written = "manifest.json and preview.png" if preview is not None else "manifest.json"
    print(f"reconstruct: {len(frames)} frames written to {out / 'meshes'}, {len(skipped)} skipped; "
          f"{written} in {out}")  # fmt: skip
    for item in skipped[:10]:
        print(f"  skipped frame {item['index']}: {item['reason']}")
    return 0 if frames else 1
