"""`headfuse reconstruct VIDEO --ref IMAGE -o OUT`: a textured mesh per frame, a manifest, a preview."""

import argparse
import json
import time
from pathlib import Path

NAME = "reconstruct"
HELP = "reconstruct a video into per-frame textured meshes (GLB; PLY/OBJ on request) with a manifest and preview"

PREVIEW_FRAMES = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "video", help="video file, animated GIF, image, image folder or printf pattern (frames/%%04d.png)"
    )
    parser.add_argument("--ref", required=True, help="near-frontal reference image of the same person")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--mode",
        default="fused",
        choices=["fused", "per-frame"],
        help="fused: lifted frames fused with the reference's prior (the method); per-frame: the lifter alone",
    )
    parser.add_argument("--mesh-res", type=int, default=128, help="marching cubes cells per side (multiple of 4)")
    parser.add_argument("--texture", type=int, default=512, help="texture size in pixels (0: vertex colours only)")
    parser.add_argument("--frames", default=None, help="frame range A:B or A:B:STRIDE (source indices)")
    parser.add_argument("--formats", default="glb", help="comma-separated mesh formats: glb, ply, obj")
    parser.add_argument("--no-face", default="hold", choices=["hold", "skip"], help="policy for frames without a face")
    parser.add_argument("--weights", default=None, help="lifter checkpoint (default: the shipped tiny weights)")
    parser.add_argument(
        "--fusion-weights", default=None, help="undistorter + fuser checkpoint (default: the shipped tiny weights)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run(args) -> int:
    from tqdm import tqdm

    from backend import __version__
    from backend.config import MeshConfig, config_to_dict
    from backend.face.config import FaceConfig
    from backend.mesh.writers import WRITERS, write_mesh
    from backend.pipeline import ReconstructConfig, reconstruct_clip
    from backend.preview import contact_sheet_row, save_contact_sheet
    from backend.video import open_video, parse_frame_range

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in WRITERS]
    if bad:
        raise SystemExit(f"reconstruct: unknown format(s) {', '.join(bad)}; choose from {', '.join(sorted(WRITERS))}")
    try:
        start, stop, stride = parse_frame_range(args.frames) if args.frames else (0, None, 1)
    except ValueError as exc:
        raise SystemExit(f"reconstruct: --frames {exc}") from None
    cfg = ReconstructConfig(
        mode=args.mode,
        mesh=MeshConfig(resolution=args.mesh_res, texture_size=args.texture),
        face=FaceConfig(no_face=args.no_face),
        start=start,
        stop=stop,
        stride=stride,
        weights=args.weights,
        fusion_weights=args.fusion_weights,
        device=args.device,
    )
    try:
        cfg.validate()
    except ValueError as exc:
        raise SystemExit(f"reconstruct: {exc}") from None
    info = open_video(args.video).info
    total = None
    if info.frame_count is not None:
        end = info.frame_count if stop is None else min(stop, info.frame_count)
        total = max(0, (end - start + stride - 1) // stride)
    out: Path = args.out
    (out / "meshes").mkdir(parents=True, exist_ok=True)
    manifest = {
        "headfuse": __version__,
        "video": str(args.video),
        "reference": str(args.ref),
        "mode": args.mode,
        "units": "metres",
        "up": "+y",
        "camera_axes": "OpenCV (x right, y down, z forward)",
        "mesh": config_to_dict(cfg.mesh),
        "source": {"fps": info.fps, "width": info.width, "height": info.height},
        "frames": [],
        "skipped": [],
    }
    rows, preview_every = [], max(1, (total or PREVIEW_FRAMES) // PREVIEW_FRAMES)
    t_start = time.perf_counter()
    bar = tqdm(total=total, desc="reconstruct", unit="frame")

    def write_manifest():
        manifest["elapsed_s"] = round(time.perf_counter() - t_start, 2)
        tmp = out / "manifest.json.part"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(out / "manifest.json")

    try:
        for k, frame in enumerate(reconstruct_clip(args.video, args.ref, cfg)):
            bar.update(1)
            if frame.mesh is None:
                manifest["skipped"].append({"index": frame.index, "reason": frame.reason})
                continue
            files = {}
            for fmt in formats:
                path = write_mesh(frame.mesh, out / "meshes" / f"frame_{frame.index:06d}.{fmt}")
                files[fmt] = str(path.relative_to(out))
            manifest["frames"].append(
                {
                    "index": frame.index,
                    "status": frame.status,
                    "reason": frame.reason,
                    "files": files,
                    "vertices": int(frame.mesh.vertices.shape[0]),
                    "faces": int(frame.mesh.faces.shape[0]),
                    "camera": frame.camera,
                    "timings_ms": {key: round(v, 1) for key, v in frame.timings_ms.items()},
                }
            )
            if k % preview_every == 0 and len(rows) < PREVIEW_FRAMES:
                rows.append(contact_sheet_row(frame))
            write_manifest()  # after every frame: a cancelled or failed run still leaves a valid manifest
            done = len(manifest["frames"])
            bar.set_postfix(fps=f"{done / (time.perf_counter() - t_start):.2f}", skipped=len(manifest["skipped"]))
    finally:
        bar.close()
        write_manifest()
        if rows:
            save_contact_sheet(rows, out / "preview.png")
    n, s = len(manifest["frames"]), len(manifest["skipped"])
    print(f"reconstruct: {n} frames written to {out / 'meshes'}, {s} skipped; manifest.json and preview.png in {out}")
    for item in manifest["skipped"][:10]:
        print(f"  skipped frame {item['index']}: {item['reason']}")
    return 0 if n else 1
