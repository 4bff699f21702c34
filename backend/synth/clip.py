"""Clips: one identity whose expression, head pose, shoulders and lighting change smoothly.

The studio (world) frame holds a fixed video camera and a fixed rig of N cameras; the head turns
about the base of its neck (plus a small drift) and the body sways a little. Everything is then
expressed in the canonical head frame, where the head field never moves: per frame, the cameras
are `head_pose^-1 @ camera` and the torso turns by `head_rotation^T @ body_rotation`.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backend.render.cameras import intrinsics_matrix, orbit_camera, project_points
from backend.synth.cameras import frontal_camera, rig_cameras
from backend.synth.expression import NAMES, Expression
from backend.synth.head import KEYPOINT_NAMES, SynthHead
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting
from backend.synth.render import NECK_BASE, render_gt
from backend.synth.sdf import rotation_matrix

FORMAT = "headfuse-synth-clip"
VERSION = 1


@dataclass
class ClipConfig:
    """What `write_clip` renders."""

    frames: int = 48
    """Number of frames."""
    fps: float = 24.0
    """Frame rate of the video (and of the motion's time axis)."""
    size: int = 256
    """Side of the video frames and the reference image (pixels)."""
    views: int = 3
    """Synchronized ground-truth views per frame (the N of the N x N protocol)."""
    view_size: int = 128
    """Side of the ground-truth view images (pixels)."""
    mesh_every: int = 1
    """Write a reference mesh every this many frames (0 writes none)."""
    mesh_resolution: int = 128
    """Marching-cubes grid cells per side for the reference meshes."""
    video_radius: float = 3.4
    """Distance of the video camera and the view rig from the pivot (wider than a portrait crop,
    so the moving head stays in frame, like real footage)."""


@dataclass
class FrameState:
    """Everything that changes over a clip, at one frame."""

    expression: Expression
    """The expression."""
    lighting: Lighting
    """The lighting."""
    head_pose: torch.Tensor
    """Head frame -> studio frame, `[4, 4]`."""
    shoulders: tuple[float, float, float]
    """Torso rotation in the head frame (yaw, pitch, roll; radians), as `render_gt` takes it."""


def _smooth_curves(
    gen: torch.Generator, n: int, times: torch.Tensor, lo_hz: float = 0.08, hi_hz: float = 0.5
) -> torch.Tensor:
    """n smooth random curves `[n, T]` in about [-1, 1]: sums of three sinusoids."""
    freq = lo_hz + (hi_hz - lo_hz) * torch.rand(n, 3, generator=gen)
    phase = 2 * math.pi * torch.rand(n, 3, generator=gen)
    amp = torch.rand(n, 3, generator=gen) + 0.2
    amp = amp / amp.sum(-1, keepdim=True)
    return (amp[..., None] * torch.sin(2 * math.pi * freq[..., None] * times + phase[..., None])).sum(1)


def matrix_to_euler(r: torch.Tensor) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of a rotation `[3, 3]` built as in `sdf.rotation_matrix`."""
    pitch = math.asin(max(-1.0, min(1.0, -float(r[1, 2]))))
    return math.atan2(float(r[0, 2]), float(r[2, 2])), pitch, math.atan2(float(r[1, 0]), float(r[1, 1]))


def clip_states(seed: int, frames: int, fps: float = 24.0) -> tuple[Identity, list[FrameState]]:
    """The identity and per-frame states of clip `seed` (smooth in time, reproducible)."""
    identity = Identity.sample(seed)
    gen = torch.Generator().manual_seed((int(seed) * 7919 + 17) & 0x7FFF_FFFF_FFFF_FFFF)
    times = torch.arange(frames, dtype=torch.float32) / fps
    expr = _smooth_curves(gen, len(NAMES), times)  # [6, T]
    bias = torch.rand(len(NAMES), generator=gen) * 0.8 - 0.5
    expr = ((expr + bias[:, None]) * 1.4).clamp(0, 1)
    expr[NAMES.index("tongue_out")] *= float(torch.rand((), generator=gen) < 0.3)
    pose = _smooth_curves(gen, 6, times, 0.05, 0.3)  # yaw, pitch, roll, tx, ty, sway
    light = _smooth_curves(gen, 4, times, 0.03, 0.15)
    base_light = Lighting.sample(gen)
    pivot = torch.tensor(NECK_BASE)
    states = []
    for t in range(frames):
        yaw, pitch, roll = (
            math.radians(35.0) * pose[0, t],
            math.radians(12.0) * pose[1, t],
            math.radians(8.0) * pose[2, t],
        )
        rot = rotation_matrix(float(yaw), float(pitch), float(roll))
        H = torch.eye(4)
        H[:3, :3] = rot
        H[:3, 3] = pivot - rot @ pivot + torch.tensor([0.02 * float(pose[3, t]), 0.01 * float(pose[4, t]), 0.0])
        body = rotation_matrix(math.radians(5.0) * float(pose[5, t]), 0.0, 0.0)
        d = base_light.direction
        az = math.atan2(d[0], d[2]) + 0.4 * float(light[0, t])
        el = math.asin(max(-1.0, min(1.0, d[1] / math.sqrt(sum(c * c for c in d))))) + 0.2 * float(light[1, t])
        lighting = Lighting(
            direction=(math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)),
            intensity=base_light.intensity * (1 + 0.15 * float(light[2, t])),
            ambient=base_light.ambient,
            temperature=base_light.temperature * (1 + 0.1 * float(light[3, t])),
        )
        states.append(
            FrameState(
                Expression(**{n: float(expr[i, t]) for i, n in enumerate(NAMES)}),
                lighting,
                H,
                matrix_to_euler(rot.T @ body),
            )
        )
    return identity, states


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    """`[3, H, W]` in [0, 1] -> `[H, W, 3]` uint8."""
    return (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def write_clip(seed: int, out_dir, cfg: ClipConfig | None = None, log=None) -> dict:
    """Render clip `seed` into `out_dir`; returns the manifest (also written as cameras.json / params.json).

    Files: `video.mp4` (the video camera, mp4v), `reference.png` (neutral, studio light, default
    portrait camera), `cameras.json` (every camera in the head frame: video + views per frame, the
    reference), `params.json` (seed, identity, per-frame expression, lighting, head pose,
    shoulders, 3D keypoints and their video projections), `views/view_J/NNNN.png` (RGBA, alpha =
    mask), `views/view_J/depth.npz` (`depth [T, H, W]` float16, distance along the ray, 0 = none),
    `meshes/NNNN.npz` (reference meshes, metres; see `meshing.save_mesh_npz`).
    """
    import cv2

    from backend.synth.meshing import reference_mesh, save_mesh_npz

    cfg = cfg or ClipConfig()
    out = Path(out_dir)
    (out / "views").mkdir(parents=True, exist_ok=True)
    identity, states = clip_states(seed, cfg.frames, cfg.fps)
    # the reference: neutral, studio light, the default portrait camera
    ref_head = SynthHead(identity, Expression.neutral(), Lighting.studio())
    ref_c2w, ref_K = frontal_camera()
    ref = render_gt(ref_head, ref_c2w, ref_K, cfg.size)
    cv2.imwrite(str(out / "reference.png"), cv2.cvtColor(_to_uint8(ref["rgb"][0]), cv2.COLOR_RGB2BGR))
    video_world = orbit_camera(0.0, math.radians(3.0), cfg.video_radius)[0]
    video_K = intrinsics_matrix()
    rig_world, rig_K = rig_cameras(cfg.views, radius=cfg.video_radius)
    writer = cv2.VideoWriter(str(out / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), cfg.fps, (cfg.size, cfg.size))
    if not writer.isOpened():
        raise RuntimeError(f"cv2 could not open an mp4v writer for {out / 'video.mp4'}")
    for j in range(cfg.views):
        (out / "views" / f"view_{j}").mkdir(exist_ok=True)
    if cfg.mesh_every:
        (out / "meshes").mkdir(exist_ok=True)
    depths = np.zeros((cfg.views, cfg.frames, cfg.view_size, cfg.view_size), np.float16)
    cam_frames, param_frames = [], []
    for t, st in enumerate(states):
        head = SynthHead(identity, st.expression, st.lighting)
        inv = torch.linalg.inv(st.head_pose)
        video_c2w = (inv @ video_world)[None]
        frame = render_gt(head, video_c2w, video_K[None], cfg.size, shoulders=torch.tensor(st.shoulders))
        writer.write(cv2.cvtColor(_to_uint8(frame["rgb"][0]), cv2.COLOR_RGB2BGR))
        views_c2w = inv[None] @ rig_world  # [N, 4, 4]
        views = render_gt(head, views_c2w, rig_K, cfg.view_size, shoulders=torch.tensor(st.shoulders))
        for j in range(cfg.views):
            rgba = np.concatenate(
                [_to_uint8(views["rgb"][j]), (views["mask"][j, 0].numpy() * 255).astype(np.uint8)[..., None]], -1
            )
            cv2.imwrite(str(out / "views" / f"view_{j}" / f"{t:04d}.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
            depths[j, t] = views["depth"][j, 0].numpy()
        kp = head.keypoints()  # [K, 3]
        kp2d = project_points(kp[None], video_c2w, video_K[None])[0, :, :2]
        if cfg.mesh_every and t % cfg.mesh_every == 0:
            save_mesh_npz(reference_mesh(head, cfg.mesh_resolution), out / "meshes" / f"{t:04d}.npz")
        cam_frames.append(
            {
                "index": t,
                "video": {"cam2world": video_c2w[0].tolist(), "intrinsics": video_K.tolist()},
                "views": [
                    {"cam2world": views_c2w[j].tolist(), "intrinsics": rig_K[j].tolist()} for j in range(cfg.views)
                ],
            }
        )
        param_frames.append(
            {
                "index": t,
                "time": t / cfg.fps,
                "expression": st.expression.to_dict(),
                "lighting": st.lighting.to_dict(),
                "head_pose": st.head_pose.tolist(),
                "shoulders": list(st.shoulders),
                "keypoints_3d": kp.tolist(),
                "keypoints_2d_video": kp2d.tolist(),
            }
        )
        if log:
            log(f"frame {t + 1}/{cfg.frames}")
    writer.release()
    for j in range(cfg.views):
        np.savez_compressed(out / "views" / f"view_{j}" / "depth.npz", depth=depths[j])
    common = {"format": FORMAT, "version": VERSION, "seed": int(seed), "frames": cfg.frames, "fps": cfg.fps}
    cameras = {
        **common,
        "frame": "canonical head frame (box units, y up, face towards +z); OpenCV cameras, " "normalized intrinsics",
        "size": cfg.size,
        "view_size": cfg.view_size,
        "n_views": cfg.views,
        "reference": {"cam2world": ref_c2w[0].tolist(), "intrinsics": ref_K[0].tolist()},
        "per_frame": cam_frames,
    }
    params = {
        **common,
        "identity": identity.to_dict(),
        "keypoint_names": list(KEYPOINT_NAMES),
        "mesh_every": cfg.mesh_every,
        "mesh_resolution": cfg.mesh_resolution,
        "per_frame": param_frames,
    }
    (out / "cameras.json").write_text(json.dumps(cameras) + "\n")
    (out / "params.json").write_text(json.dumps(params) + "\n")
    return {"cameras": cameras, "params": params}


def head_at_frame(params: dict, index: int) -> SynthHead:
    """Rebuild the exact head of frame `index` from a clip's params.json (dict)."""
    fr = params["per_frame"][index]
    lt = dict(fr["lighting"])
    lt["direction"] = tuple(lt["direction"])
    return SynthHead(Identity(**params["identity"]), Expression(**fr["expression"]), Lighting(**lt))
