"""Lifter training samples, generated once from synthetic heads and cached as .npz shards.

Rendering exact ground truth costs far more than a training step of the tiny lifter on a CPU,
so samples are made ahead (`headfuse train --stage encoder` makes what is missing, resumably,
one shard per sample) and every step draws a batch from the cache. A sample is one identity with
a random expression, lighting, shoulders and background:

- `image [S, S, 3]` uint8: the input crop from a camera sampled like real footage (torso included).
- `view_rgb [V, r, r, 3]` uint8, `view_mask [V, r, r]` uint8, `view_c2w [V, 4, 4]`, `view_K [V, 3, 3]`:
  the head alone over `background [3]`; view 0 is the input camera, the others surround the head.
- `points [N, 3]` float16, `density [N]` float16, `colour [N, 3]` uint8: the field itself, half near
  the surface, half uniform in the box.
"""

import math
import os
from pathlib import Path

import numpy as np
import torch

from backend.render.cameras import intrinsics_matrix, orbit_camera
from backend.render.rays import generate_rays
from backend.synth.expression import Expression
from backend.synth.head import SynthHead
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting
from backend.synth.render import render_gt


def sample_input_camera(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float, float]]:
    """A camera like real portrait footage: yaw mostly within +-45 deg (up to 70), pitch +-25,
    roll +-10, focal +-8 %, principal point +-0.02. Returns cam2world `[1, 4, 4]`, K `[1, 3, 3]`, angles."""

    def u(lo, hi):
        return float(torch.empty(1).uniform_(lo, hi, generator=gen))

    yaw = math.radians(u(-45, 45) if u(0, 1) < 0.8 else u(-70, 70))
    pitch, roll = math.radians(u(-25, 25)), math.radians(u(-10, 10))
    c2w = orbit_camera(yaw, pitch, roll=roll)
    K = intrinsics_matrix(4.2647 * u(0.92, 1.08), 0.5 + u(-0.02, 0.02), 0.5 + u(-0.02, 0.02), batch=1)
    return c2w, K, (yaw, pitch, roll)


def make_sample(
    index: int, seed: int, image_size: int, view_res: int, views: int, points: int
) -> dict[str, np.ndarray]:
    """Sample `index` of the cache with base `seed` (identity seed = seed + index)."""
    gen = torch.Generator().manual_seed(seed * 7919 + index)
    head = SynthHead(Identity.sample(seed + index), Expression.sample(gen), Lighting.sample(gen))
    c2w, K, (yaw, _, _) = sample_input_camera(gen)
    background = torch.rand(3, generator=gen) * 0.8 + 0.1
    shoulders = (torch.rand(3, generator=gen) - 0.5) * torch.tensor([0.6, 0.2, 0.2])
    image = render_gt(head, c2w, K, image_size, shoulders=shoulders, background=background)["rgb"]
    others_yaw = (
        yaw
        + torch.linspace(-1.0, 1.0, views - 1) * math.radians(100)
        + (torch.rand(views - 1, generator=gen) - 0.5) * 0.4
    )
    others_pitch = (torch.rand(views - 1, generator=gen) - 0.5) * math.radians(50)
    view_c2w = torch.cat([c2w, orbit_camera(others_yaw, others_pitch)])
    view_K = torch.cat([K, intrinsics_matrix(batch=views - 1)])
    gt = render_gt(head, view_c2w, view_K, view_res, background=background, torso=False)
    # Points: half jittered around surface hits of the views, half uniform in the box.
    o, d = generate_rays(view_c2w, view_K, view_res)
    hit = gt["head_depth"].flatten(1) > 0  # [V, r*r]
    surf = (o + d * gt["head_depth"].flatten(1)[..., None])[hit]  # [M, 3]
    n_surf = points // 2
    pick = torch.randint(0, max(1, surf.shape[0]), (n_surf,), generator=gen)
    near = surf[pick] + torch.randn(n_surf, 3, generator=gen) * 0.02 if surf.shape[0] else torch.zeros(0, 3)
    uniform = torch.rand(points - near.shape[0], 3, generator=gen) - 0.5
    pts = torch.cat([near, uniform]).clamp(-0.5, 0.5)
    density, colour = head(pts[None])

    def u8(x):
        return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()

    return {
        "image": u8(image[0].permute(1, 2, 0)),
        "view_rgb": u8(gt["rgb"].permute(0, 2, 3, 1)),
        "view_mask": u8(gt["head_mask"][:, 0]),
        "view_c2w": view_c2w.numpy().astype(np.float32),
        "view_K": view_K.numpy().astype(np.float32),
        "background": background.numpy().astype(np.float32),
        "points": pts.numpy().astype(np.float16),
        "density": density[0, :, 0].numpy().astype(np.float16),
        "colour": u8(colour[0, :, :3]),
        "identity_seed": np.array(seed + index),
    }


class SampleCache:
    """A folder of `sample_XXXXXX.npz` files; `batch(step, ...)` draws a deterministic batch."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files = sorted(self.root.glob("sample_*.npz"))
        if not self.files:
            raise FileNotFoundError(
                f"no cached samples in {self.root}; make them with `headfuse train --stage encoder`"
            )
        self._mem: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> dict[str, np.ndarray]:
        """Sample i as numpy arrays (kept in memory after the first read: the cache is small)."""
        if i not in self._mem:
            with np.load(self.files[i]) as z:
                self._mem[i] = {k: z[k] for k in z.files}
        return self._mem[i]

    def batch(self, step: int, size: int, points: int, views: int, view_res: int, seed: int) -> dict[str, torch.Tensor]:
        """The batch of `step`: image `[B, 3, S, S]`, points `[B, N, 3]`, density `[B, N, 1]`, colour
        `[B, N, 3]`, view_c2w `[B, V, 4, 4]`, view_K `[B, V, 3, 3]`, view_rgb `[B, V, 3, r, r]`,
        view_mask `[B, V, 1, r, r]`, background `[B, 3]`. Depends only on (seed, step)."""
        rng = np.random.default_rng([seed, step])
        n = len(self.files)
        epoch, offset = divmod(step * size, n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        idx = [order[(offset + k) % n] for k in range(size)]
        out: dict[str, list] = {
            k: []
            for k in (
                "image",
                "points",
                "density",
                "colour",
                "view_c2w",
                "view_K",
                "view_rgb",
                "view_mask",
                "background",
            )
        }
        for i in idx:
            s = self.load(int(i))
            p = rng.choice(s["points"].shape[0], points, replace=s["points"].shape[0] < points)
            v = np.concatenate([[0], 1 + rng.choice(s["view_c2w"].shape[0] - 1, views - 1, replace=False)])
            out["image"].append(torch.from_numpy(s["image"]).permute(2, 0, 1).float() / 255)
            out["points"].append(torch.from_numpy(s["points"][p].astype(np.float32)))
            out["density"].append(torch.from_numpy(s["density"][p].astype(np.float32))[:, None])
            out["colour"].append(torch.from_numpy(s["colour"][p]).float() / 255)
            out["view_c2w"].append(torch.from_numpy(s["view_c2w"][v]))
            out["view_K"].append(torch.from_numpy(s["view_K"][v]))
            rgb = torch.from_numpy(s["view_rgb"][v]).permute(0, 3, 1, 2).float() / 255
            mask = torch.from_numpy(s["view_mask"][v])[:, None].float() / 255
            if rgb.shape[-1] != view_res:
                rgb = torch.nn.functional.interpolate(rgb, size=view_res, mode="area")
                mask = torch.nn.functional.interpolate(mask, size=view_res, mode="area")
            out["view_rgb"].append(rgb)
            out["view_mask"].append(mask)
            out["background"].append(torch.from_numpy(s["background"]))
        return {k: torch.stack(v) for k, v in out.items()}


def build_cache(
    root: Path,
    count: int,
    seed: int,
    image_size: int,
    view_res: int = 32,
    views: int = 5,
    points: int = 4096,
    progress: bool = True,
    workers: int = 1,
) -> Path:
    """Make the samples `0..count-1` that are missing in `root` (resumable; one file per sample).

    With `workers > 1`, that many processes (one torch thread each) share the work.
    """
    if workers > 1:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        args = [
            (root, count, seed, image_size, view_res, views, points, progress and k == 0, 1, (k, workers))
            for k in range(workers)
        ]
        with ctx.Pool(workers) as pool:
            pool.starmap(_build_shard, args)
        return Path(root)
    return _build_shard(root, count, seed, image_size, view_res, views, points, progress, 0, (0, 1))


def _build_shard(root, count, seed, image_size, view_res, views, points, progress, threads, shard) -> Path:
    if threads:
        torch.set_num_threads(threads)
    from tqdm import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(shard[0], count, shard[1]) if not (root / f"sample_{i:06d}.npz").exists()]
    for i in tqdm(todo, desc="synthetic samples", unit="sample", disable=not progress):
        path = root / f"sample_{i:06d}.npz"
        tmp = path.with_name(path.stem + ".part.npz")
        np.savez_compressed(tmp, **make_sample(i, seed, image_size, view_res, views, points))
        os.replace(tmp, path)
    return root
