"""`headfuse demo`: the whole path, headless, on the shipped sample clip.

Starts `headfuse serve` on a free loopback port, enables the Blender add-on inside Blender-as-a-
module, reconstructs the sample clip through the panel's operator (frames stream over ZeroMQ and
are keyed onto the timeline), then writes OUT/demo.blend, demo.abc, demo.usdc, demo.fbx and
demo_strip.png (Workbench renders of a few frames through the plate camera).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from backend.server.process import ServerProcess

NAME = "demo"
HELP = "run the whole path headless (server + Blender add-on) on the sample clip; results in --out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    parser.add_argument("--frames", type=int, default=12, help="frames of the sample clip to reconstruct")
    parser.add_argument("--mesh-res", type=int, default=96, help="marching cubes cells per side")
    parser.add_argument("--texture-size", type=int, default=256, help="texture side in pixels")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")


def _render_strip(scene, out: Path, frames: list[int]) -> Path:
    import bpy
    import numpy as np
    from PIL import Image

    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.color_type = "TEXTURE"
    scene.display.shading.light = "STUDIO"
    scene.render.resolution_percentage = 100
    scale = 240 / max(scene.render.resolution_x, scene.render.resolution_y)
    scene.render.resolution_x = max(16, int(scene.render.resolution_x * scale))
    scene.render.resolution_y = max(16, int(scene.render.resolution_y * scale))
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in frames:
            scene.frame_set(t)
            scene.render.filepath = os.path.join(tmp, f"f{t:04d}.png")
            bpy.ops.render.render(write_still=True)
            tiles.append(np.asarray(Image.open(scene.render.filepath).convert("RGB")))
    path = out / "demo_strip.png"
    Image.fromarray(np.concatenate(tiles, axis=1)).save(path)
    return path


def run(args) -> int:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    store = Path(tempfile.mkdtemp(prefix="headfuse-demo-store-"))
    with ServerProcess(store, 1, ("--device", "cpu")) as server:  # binds a free port itself: no race for it
        return _run_blender(args, out, server.endpoint)


def _run_blender(args, out: Path, address: str) -> int:
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="headfuse-demo-blender-"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import bpy  # first: it puts Blender's own modules (addon_utils) on the path

    # isort: split
    import addon_utils

    from backend.synth import SAMPLE_CLIP_DIR

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 backups
    addon = addon_utils.enable("blender_addon", default_set=True, handle_error=None)  # as Blender loads it
    export, jobs = addon.export, addon.jobs
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.server_address = address
    scene = bpy.context.scene
    hf = scene.headfuse
    hf.video, hf.reference = str(SAMPLE_CLIP_DIR / "video.mp4"), str(SAMPLE_CLIP_DIR / "reference.png")
    hf.frame_start, hf.frame_end = 0, args.frames - 1
    hf.mode, hf.mesh_resolution, hf.texture_size = "fused", args.mesh_res, args.texture_size
    scene.frame_start, scene.frame_end = hf.timeline_start, hf.timeline_start + args.frames - 1
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))  # textures then go next to it if asked
    assert bpy.ops.headfuse.reconstruct() == {"FINISHED"}
    deadline = time.monotonic() + args.timeout
    last = -1
    while jobs.drain(scene.name) is not None:  # what bpy.app.timers does in an interactive Blender
        if hf.frames_received != last:
            last = hf.frames_received
            print(f"demo: {hf.status}", flush=True)
        if time.monotonic() > deadline:
            print("demo: timed out", file=sys.stderr)
            return 1
        time.sleep(jobs.TICK_S)
    if hf.error:
        print(f"demo: {hf.error}", file=sys.stderr)
        return 1
    print(f"demo: {hf.status}")
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"))
    export.export_alembic(scene, hf.object_name, str(out / "demo.abc"))
    export.export_usd(scene, hf.object_name, str(out / "demo.usdc"))
    export.export_fbx(scene, hf.object_name, str(out / "demo.fbx"))
    step = max(1, args.frames // 4)
    strip = _render_strip(scene, out, list(range(scene.frame_start, scene.frame_end + 1, step))[:4])
    for name in ("demo.blend", "demo.abc", "demo.usdc", "demo.fbx", strip.name):
        print(f"demo: wrote {out / name}")
    return 0
