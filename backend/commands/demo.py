"""`headfuse demo`: the main job on built-in data, headless, results in OUT/.

Today: a textured mesh sequence extracted from the built-in analytic head-shaped field whose jaw
widens over the frames (no networks needed), written as GLB files plus a manifest.
"""

import argparse
import json
import time
from pathlib import Path

NAME = "demo"
HELP = "run the main job on built-in data and write the results to --out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    parser.add_argument("--frames", type=int, default=8, help="frames in the sequence")
    parser.add_argument("--mesh-res", type=int, default=128, help="marching cubes cells per side")
    parser.add_argument("--texture", type=int, default=512, help="texture size in pixels")


def run(args) -> int:
    from tqdm import tqdm

    from backend.config import MeshConfig, config_to_dict
    from backend.mesh import mesh_from_field, write_mesh
    from backend.render.analytic import blobby_head_field

    out = args.out / "demo_meshes"
    out.mkdir(parents=True, exist_ok=True)
    cfg = MeshConfig(resolution=args.mesh_res, texture_size=args.texture)
    frames = []
    for i in tqdm(range(args.frames), desc="demo", unit="frame"):
        timings: dict = {}
        smile = i / max(1, args.frames - 1)
        mesh = mesh_from_field(blobby_head_field(smile=smile), cfg, timings)
        path = write_mesh(mesh, out / f"frame_{i:04d}.glb")
        frames.append({
            "index": i, "file": path.name, "vertices": int(mesh.vertices.shape[0]), "faces": int(mesh.faces.shape[0]),
            "smile": round(smile, 4), "timings_ms": {k: round(v, 1) for k, v in timings.items()},
        })
    manifest = {
        "source": "render.analytic.blobby_head_field", "units": "metres", "up": "+y", "mesh": config_to_dict(cfg),
        "frames": frames, "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"demo: wrote {len(frames)} textured meshes and manifest.json to {out}")
    return 0
