"""`headfuse synth`: synthetic heads with exact ground truth (clips, single samples)."""

NAME = "synth"
HELP = "synthetic heads: a ground-truth clip (`clip`), one sample image (`sample`), the head template (`template`)"


def add_arguments(parser) -> None:
    """Subcommands `clip`, `sample` and `template`."""
    sub = parser.add_subparsers(dest="synth_command", metavar="SUBCOMMAND", required=True)
    c = sub.add_parser("clip", help="a clip of one identity: video.mp4, reference.png, cameras, views, meshes")
    c.add_argument("--seed", type=int, required=True, help="identity and motion seed")
    c.add_argument("--frames", type=int, default=48, help="number of frames (default 48)")
    c.add_argument("--out", required=True, help="output folder")
    c.add_argument("--fps", type=float, default=24.0, help="frame rate (default 24)")
    c.add_argument("--size", type=int, default=256, help="video and reference size in pixels (default 256)")
    c.add_argument("--views", type=int, default=3, help="synchronized ground-truth views per frame (default 3)")
    c.add_argument("--view-size", type=int, default=128, help="ground-truth view size in pixels (default 128)")
    c.add_argument("--mesh-every", type=int, default=1, help="reference mesh every K frames; 0 for none (default 1)")
    c.add_argument("--mesh-resolution", type=int, default=128, help="marching-cubes cells per side (default 128)")
    s = sub.add_parser("sample", help="one random head from a random camera as a PNG (plus its parameters as JSON)")
    s.add_argument("--seed", type=int, required=True, help="identity seed (expression, light, camera follow from it)")
    s.add_argument("--out", required=True, help="output PNG path (a .json with the parameters is written beside it)")
    s.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    s.add_argument("--frontal", action="store_true", help="neutral expression, studio light, default portrait camera")
    t = sub.add_parser("template", help="the head template a tracked topology deforms (from the mid-range person)")
    t.add_argument("--out", required=True, help="output .npz (shipped: backend/topology/assets/head_template.npz)")
    t.add_argument("--resolution", type=int, default=96, help="marching-cubes cells per side (default 96)")


def run(args) -> int:
    """Dispatch to the subcommand; returns the exit code."""
    import json
    import time
    from pathlib import Path

    import cv2
    import numpy as np
    import torch

    from backend.synth.clip import ClipConfig, write_clip

    if args.synth_command == "template":
        from backend.topology.template import build_head_template

        t0 = time.perf_counter()
        template = build_head_template(resolution=args.resolution)
        path = template.save(args.out)
        gap = np.linalg.norm(template.vertices[template.landmarks] - template.landmark_points, axis=1) * 1000
        print(f"wrote {path}: {len(np.unique(template.weld))} vertices ({len(template.vertices)} with the UV seam's), "
              f"{len(template.faces)} faces, 468 landmarks on {len(np.unique(template.landmarks))} vertices "
              f"({gap.mean():.2f} mm mean, {gap.max():.2f} mm max from where they were found), "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        return 0
    if args.synth_command == "clip":
        if args.frames < 1 or args.views < 1 or args.size < 16 or args.view_size < 16:
            print("headfuse synth clip: --frames and --views must be >= 1, sizes >= 16")
            return 2
        cfg = ClipConfig(
            frames=args.frames,
            fps=args.fps,
            size=args.size,
            views=args.views,
            view_size=args.view_size,
            mesh_every=args.mesh_every,
            mesh_resolution=args.mesh_resolution,
        )
        t0 = time.perf_counter()
        write_clip(args.seed, args.out, cfg, log=lambda m: print(f"\r{m}", end="", flush=True))
        print(f"\nwrote {args.out} ({args.frames} frames, {args.views} views) in {time.perf_counter() - t0:.1f} s")
        return 0

    from backend.synth.cameras import frontal_camera, sample_cameras
    from backend.synth.expression import Expression
    from backend.synth.head import SynthHead
    from backend.synth.identity import Identity
    from backend.synth.lighting import Lighting
    from backend.synth.render import render_gt

    gen = torch.Generator().manual_seed(args.seed)
    identity = Identity.sample(args.seed)
    if args.frontal:
        expression, lighting = Expression.neutral(), Lighting.studio()
        c2w, K = frontal_camera()
    else:
        expression, lighting = Expression.sample(gen), Lighting.sample(gen)
        c2w, K = sample_cameras(1, gen)
    head = SynthHead(identity, expression, lighting)
    out = render_gt(head, c2w, K, args.size)
    img = (out["rgb"][0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    meta = {
        "seed": args.seed,
        "identity": identity.to_dict(),
        "expression": expression.to_dict(),
        "lighting": lighting.to_dict(),
        "cam2world": c2w[0].tolist(),
        "intrinsics": K[0].tolist(),
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {path}")
    return 0
