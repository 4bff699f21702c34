"""Torch datasets of synthetic heads, generated on the fly.

Item `i` of a dataset with seed `s` depends only on (s, i), never on worker or order, so any
DataLoader with worker processes yields the same data. Input images look like aligned footage
(torso, random background); targets are the field alone (head + neck, black background: what
volume rendering the field gives with `RenderConfig.background = 0`).
"""

import math

import torch
from torch.utils.data import Dataset

from backend.render.cameras import project_points
from backend.synth.cameras import CameraSampling, frontal_camera, sample_cameras
from backend.synth.clip import clip_states
from backend.synth.expression import Expression
from backend.synth.head import SynthHead
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting
from backend.synth.render import render_gt
from backend.synth.visibility import visibility_triplanes

_MIX = 0x9E3779B97F4A7C15


def item_seed(seed: int, index: int) -> int:
    """A well-mixed 63-bit seed for item `index` of dataset `seed`."""
    x = (int(seed) * _MIX + int(index) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFF_FFFF_FFFF_FFFF
    x ^= x >> 31
    x = (x * 0xD6E8FEB86659FD93) & 0xFFFF_FFFF_FFFF_FFFF
    return (x ^ (x >> 29)) & 0x7FFF_FFFF_FFFF_FFFF


def sample_points(
    head: SynthHead, n: int, gen: torch.Generator, near_surface: float = 0.5, sigma: float = 0.01
) -> dict:
    """3D supervision: `n` points `[n, 3]` with sdf `[n]`, density `[n, 1]` and lit rgb `[n, 3]`.

    A `near_surface` fraction is jittered (Gaussian, `sigma` box units) around surface points found
    by projecting random points onto the zero level; the rest is uniform in the box.
    """
    n_near = int(n * near_surface)
    pts = torch.rand(n, 3, generator=gen) - 0.5  # [n, 3]
    if n_near:
        p = pts[:n_near] * torch.tensor([0.5, 0.7, 0.6]) + torch.tensor([0.0, -0.05, 0.02])
        for _ in range(8):
            p = p - head.sdf(p)[:, None] * head.normals(p)
        p = p + sigma * torch.randn(n_near, 3, generator=gen)
        pts = torch.cat([p.clamp(-0.5, 0.5), pts[n_near:]])
    sdf = head.sdf(pts)
    return {"points": pts, "sdf": sdf, "density": head.density_from_sdf(sdf)[:, None], "rgb": head.colour(pts)}


def _background(gen: torch.Generator) -> torch.Tensor:
    return torch.rand(3, generator=gen) * 0.8 + 0.1


class SynthImageDataset(Dataset):
    """Single images with other-view targets and 3D supervision (stage 1, the encoder).

    Item keys: `image [3, H, W]` (input view: torso, random background), `mask`, `head_mask`,
    `depth [1, H, W]`, `cam2world [4, 4]`, `intrinsics [3, 3]`; `target_rgb [T, 3, h, w]` (field
    only, black background), `target_mask [T, 1, h, w]`, `target_depth`, `target_cam2world
    [T, 4, 4]`, `target_intrinsics [T, 3, 3]` (target 0 is the frontal portrait camera when
    `frontal_target`); `points [P, 3]`, `point_sdf [P]`, `point_density [P, 1]`, `point_rgb [P, 3]`;
    `keypoints [8, 3]`, `keypoints_uv [8, 2]` (in the input image); `expression [6]`,
    `shoulders [3]`, `seed` (the item's identity seed).
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        resolution: int = 128,
        n_targets: int = 2,
        target_resolution: int | None = None,
        n_points: int = 2048,
        frontal_target: bool = True,
        cameras: CameraSampling | None = None,
        max_shoulder_deg: float = 20.0,
    ):
        self.length, self.seed, self.resolution = length, seed, resolution
        self.n_targets, self.target_resolution = n_targets, target_resolution or resolution
        self.n_points, self.frontal_target = n_points, frontal_target
        self.cameras = cameras or CameraSampling()
        self.max_shoulder = math.radians(max_shoulder_deg)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        s = item_seed(self.seed, index)
        gen = torch.Generator().manual_seed(s)
        head = SynthHead(Identity.sample(s), Expression.sample(gen), Lighting.sample(gen))
        c2w, K = sample_cameras(1 + self.n_targets, gen, self.cameras)
        if self.frontal_target and self.n_targets:
            c2w[1:2], K[1:2] = frontal_camera()
        shoulders = (2 * torch.rand(3, generator=gen) - 1) * self.max_shoulder * torch.tensor([1.0, 0.4, 0.4])
        inp = render_gt(head, c2w[:1], K[:1], self.resolution, shoulders=shoulders, background=_background(gen))
        item = {
            "image": inp["rgb"][0],
            "mask": inp["mask"][0],
            "head_mask": inp["head_mask"][0],
            "depth": inp["depth"][0],
            "cam2world": c2w[0],
            "intrinsics": K[0],
            "expression": head.expression.as_tensor(),
            "shoulders": shoulders,
            "seed": s,
        }
        if self.n_targets:
            tgt = render_gt(head, c2w[1:], K[1:], self.target_resolution, torso=False, background=torch.zeros(3))
            item.update(
                target_rgb=tgt["rgb"],
                target_mask=tgt["head_mask"],
                target_depth=tgt["depth"],
                target_cam2world=c2w[1:],
                target_intrinsics=K[1:],
            )
        if self.n_points:
            pts = sample_points(head, self.n_points, gen)
            item.update(points=pts["points"], point_sdf=pts["sdf"], point_density=pts["density"], point_rgb=pts["rgb"])
        kp = head.keypoints()
        item.update(keypoints=kp, keypoints_uv=project_points(kp[None], c2w[:1], K[:1])[0, :, :2])
        return item


class SynthClipDataset(Dataset):
    """Short clips of one identity (stage 2, undistorter + fuser).

    Item keys: `frames [T, 3, H, W]` (aligned-crop-like views of the moving head: torso, random
    background), `cam2world [T, 4, 4]`, `intrinsics [T, 3, 3]` (head frame), `masks [T, 1, H, W]`;
    `frontal [T, 3, H, W]` (each frame's field from the default portrait camera, black background,
    the input to the pseudo ground truth E(frontal)); `novel [T, 3, H, W]`, `novel_mask`,
    `novel_cam2world [T, 4, 4]`, `novel_intrinsics` (the field from one fixed other camera);
    `reference [3, H, W]` (neutral, studio light, portrait camera, like `frames`);
    `visibility [T, 3, 1, V, V]` and `reference_visibility [3, 1, V, V]` (visibility triplanes);
    `expression [T, 6]`, `seed`.
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        frames: int = 8,
        resolution: int = 128,
        fps: float = 12.0,
        visibility_resolution: int = 32,
        cameras: CameraSampling | None = None,
    ):
        self.length, self.seed, self.frames, self.resolution, self.fps = length, seed, frames, resolution, fps
        self.visibility_resolution = visibility_resolution
        self.cameras = cameras or CameraSampling(max_yaw=15.0, max_pitch=10.0, max_roll=5.0)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        s = item_seed(self.seed, index)
        gen = torch.Generator().manual_seed(s ^ 0x5DEECE66D)
        identity, states = clip_states(s, self.frames, self.fps)
        base_c2w, base_K = sample_cameras(1, gen, self.cameras)  # the clip's lens and crop offset
        novel_c2w, novel_K = sample_cameras(1, gen)
        front_c2w, front_K = frontal_camera()
        bg = _background(gen)
        res, T = self.resolution, self.frames
        out = {
            k: []
            for k in ("frames", "masks", "cam2world", "frontal", "novel", "novel_mask", "visibility", "expression")
        }
        for st in states:
            head = SynthHead(identity, st.expression, st.lighting)
            c2w = torch.linalg.inv(st.head_pose)[None] @ base_c2w  # the head moved; the camera did not
            img = render_gt(head, c2w, base_K, res, shoulders=torch.tensor(st.shoulders), background=bg)
            extra = render_gt(
                head,
                torch.cat([front_c2w, novel_c2w]),
                torch.cat([front_K, novel_K]),
                res,
                torso=False,
                background=torch.zeros(3),
            )
            out["frames"].append(img["rgb"][0])
            out["masks"].append(img["mask"][0])
            out["cam2world"].append(c2w[0])
            out["frontal"].append(extra["rgb"][0])
            out["novel"].append(extra["rgb"][1])
            out["novel_mask"].append(extra["head_mask"][1])
            vis = visibility_triplanes(head, c2w, base_K, self.visibility_resolution, depth=img["head_depth"])
            out["visibility"].append(vis[0])
            out["expression"].append(st.expression.as_tensor())
        item = {k: torch.stack(v) for k, v in out.items()}
        ref_head = SynthHead(identity, Expression.neutral(), Lighting.studio())
        ref = render_gt(ref_head, front_c2w, front_K, res, background=bg)
        item.update(
            intrinsics=base_K.expand(T, 3, 3).clone(),
            novel_cam2world=novel_c2w.expand(T, 4, 4).clone(),
            novel_intrinsics=novel_K.expand(T, 3, 3).clone(),
            reference=ref["rgb"][0],
            reference_visibility=visibility_triplanes(ref_head, front_c2w, front_K, self.visibility_resolution)[0],
            seed=s,
        )
        return item
