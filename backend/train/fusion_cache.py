"""Fusion-stage training clips, rendered once from synthetic heads and encoded by the frozen lifter.

Stage 2 trains the undistorter and the fuser on triplanes, never on pixels: the lifter is frozen,
so every clip is rendered and lifted once and cached as one `.npz` per clip. A clip is one identity
whose expression, head pose, shoulders and lighting change smoothly (`backend.synth.clip`), seen by
a fixed camera (yaw up to +-40 deg on top of the head's own turn, so profiles occur):

- `frames [T, S, S, 3]` uint8: the input crops (torso, background), `frame_c2w [T, 4, 4]`, `frame_K`.
- `raw [T, 3, C, P, P]` float16: `E(frames)`; `target [T, 3, C, P, P]` float16: `E(frontal render of
  the same frame)`, the pseudo ground truth; `prior [3, C, P, P]` float16: `E(reference)`.
- `visibility [T, 3, V, V]` uint8 (x255): what each frame sees; `reference_visibility [3, V, V]`.
- `novel_rgb [T, N, r, r, 3]` uint8, `novel_mask [T, N, r, r]` uint8: the field alone over black
  from `N` fixed other cameras `novel_c2w [N, 4, 4]`, `novel_K [N, 3, 3]`.
- `points [T, M, 3]` float16, `density [T, M]` float16, `colour [T, M, 3]` uint8: the field itself.
- `lifter_sha256`: the lifter that encoded it (training refuses a cache from another lifter).

A pixel lifter's planes come from the frames taken through the face preprocessor as the pipeline
does (`models.clip_lifting`); `skipped_frames` counts the frames it skipped.
"""

import math
from pathlib import Path

import numpy as np
import torch

from backend.checkpoint import file_sha256
from backend.files import atomic_path
from backend.render.cameras import intrinsics_matrix, orbit_camera
from backend.synth.cameras import CameraSampling, frontal_camera, sample_cameras
from backend.synth.clip import clip_states
from backend.synth.dataset import sample_points
from backend.synth.expression import Expression
from backend.synth.head import SynthHead
from backend.synth.lighting import Lighting
from backend.synth.render import render_gt
from backend.synth.visibility import visibility_triplanes

FUSION_SEED_BASE = 500_000
"""Training clip identities are seeds FUSION_SEED_BASE + seed * 100_003 + i; evaluation uses >= 1_000_000."""

CLIP_CAMERAS = CameraSampling(max_yaw=40.0, max_pitch=15.0, max_roll=5.0)
"""The fixed camera of a training clip (the head's own turn of up to about 35 deg comes on top)."""


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


@torch.no_grad()
def render_clip(clip_seed: int, frames: int, image_size: int, novel_views: int, novel_res: int, points: int,
                fps: float = 12.0, visibility_res: int = 32) -> dict[str, np.ndarray]:
    """The pixels, cameras, visibility and 3D samples of training clip `clip_seed` (see the module docstring)."""
    identity, states = clip_states(clip_seed, frames, fps)
    gen = torch.Generator().manual_seed(clip_seed * 31 + 7)
    base_c2w, base_K = sample_cameras(1, gen, CLIP_CAMERAS)
    background = torch.rand(3, generator=gen) * 0.8 + 0.1
    yaw = (torch.rand(novel_views, generator=gen) * 2 - 1) * math.radians(70)
    pitch = (torch.rand(novel_views, generator=gen) - 0.5) * math.radians(40)
    novel_c2w, novel_K = orbit_camera(yaw, pitch), intrinsics_matrix(batch=novel_views)
    front_c2w, front_K = frontal_camera()
    out: dict[str, list] = {k: [] for k in ("frames", "frontal", "frame_c2w", "visibility", "novel_rgb", "novel_mask",
                                            "points", "density", "colour")}
    for st in states:
        head = SynthHead(identity, st.expression, st.lighting)
        c2w = torch.linalg.inv(st.head_pose)[None] @ base_c2w  # the head moved; the camera did not
        shoulders = torch.tensor(st.shoulders)
        img = render_gt(head, c2w, base_K, image_size, shoulders=shoulders, background=background)
        front = render_gt(head, front_c2w, front_K, image_size, shoulders=shoulders, background=background)
        novel = render_gt(head, novel_c2w, novel_K, novel_res, torso=False, background=torch.zeros(3))
        vis = visibility_triplanes(head, c2w, base_K, visibility_res, depth=img["head_depth"])  # [1, 3, 1, V, V]
        pts = sample_points(head, points, gen)
        out["frames"].append(_u8(img["rgb"][0].permute(1, 2, 0)))
        out["frontal"].append(_u8(front["rgb"][0].permute(1, 2, 0)))
        out["frame_c2w"].append(c2w[0].numpy())
        out["visibility"].append(_u8(vis[0, :, 0]))
        out["novel_rgb"].append(_u8(novel["rgb"].permute(0, 2, 3, 1)))
        out["novel_mask"].append(_u8(novel["head_mask"][:, 0]))
        out["points"].append(pts["points"].numpy().astype(np.float16))
        out["density"].append(pts["density"][:, 0].numpy().astype(np.float16))
        out["colour"].append(_u8(pts["rgb"]))
    ref_head = SynthHead(identity, Expression.neutral(), Lighting.studio())
    ref = render_gt(ref_head, front_c2w, front_K, image_size, background=background)
    ref_vis = visibility_triplanes(ref_head, front_c2w, front_K, visibility_res)
    item = {k: np.stack(v) for k, v in out.items()}
    item.update(
        frame_K=base_K.expand(frames, 3, 3).numpy().astype(np.float32),
        reference=_u8(ref["rgb"][0].permute(1, 2, 0)),
        reference_visibility=_u8(ref_vis[0, :, 0]),
        novel_c2w=novel_c2w.numpy().astype(np.float32),
        novel_K=novel_K.numpy().astype(np.float32),
        identity_seed=np.array(clip_seed),
    )
    item["frame_c2w"] = item["frame_c2w"].astype(np.float32)
    return item


@torch.no_grad()
def encode_images(lifter, images: np.ndarray) -> np.ndarray:
    """uint8 images `[N, S, S, 3]` -> triplanes `[N, 3, C, P, P]` float16 by the (frozen) lifter."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return torch.cat([lifter(x[i : i + 8]) for i in range(0, x.shape[0], 8)]).numpy().astype(np.float16)


def make_clip(index: int, seed: int, lifter, lifter_sha: str, frames: int, image_size: int, novel_views: int,
              novel_res: int, points: int) -> dict[str, np.ndarray]:
    """Training clip `index` of the cache with base `seed`, rendered and encoded."""
    item = render_clip(FUSION_SEED_BASE + seed * 100_003 + index, frames, image_size, novel_views, novel_res, points)
    if lifter.needs_geometry:  # it reads the face mesh and the solved camera: lift as the pipeline does
        from backend.models.clip_lifting import lift_clip

        T = item["frames"].shape[0]
        front_c2w, front_K = frontal_camera(T)
        raw = lift_clip(lifter, item["frames"], item["reference"], item["frame_c2w"], item["frame_K"])
        target = lift_clip(lifter, item["frontal"], item["reference"], front_c2w.numpy(), front_K.numpy())
        item["raw"] = raw.planes.numpy().astype(np.float16)
        item["target"] = target.planes.numpy().astype(np.float16)
        item["prior"] = raw.prior[0].numpy().astype(np.float16)
        item["skipped_frames"] = np.array(len(raw.skipped))
    else:
        item["raw"] = encode_images(lifter, item["frames"])
        item["target"] = encode_images(lifter, item["frontal"])
        item["prior"] = encode_images(lifter, item["reference"][None])[0]
    item["lifter_sha256"] = np.array(lifter_sha)
    del item["frontal"]
    return item


class ClipCache:
    """A folder of `clip_XXXXXX.npz` files, held in memory once read (a few hundred MB)."""

    def __init__(self, root: Path, lifter_sha: str | None = None):
        self.root = Path(root)
        self.files = sorted(self.root.glob("clip_*.npz"))  # not the hidden temporary files
        if not self.files:
            raise FileNotFoundError(f"no cached clips in {self.root}; make them with `headfuse train --stage fusion`")
        self.lifter_sha = lifter_sha
        self._mem: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.files)

    def load(self, i: int) -> dict[str, np.ndarray]:
        """Clip i as numpy arrays; raises when it was encoded by another lifter than `lifter_sha`."""
        if i not in self._mem:
            with np.load(self.files[i]) as z:
                clip = {k: z[k] for k in z.files}
            if self.lifter_sha is not None and str(clip["lifter_sha256"]) != self.lifter_sha:
                raise ValueError(
                    f"{self.files[i]} was encoded by another lifter (sha256 {str(clip['lifter_sha256'])[:12]}…); "
                    f"delete the cache folder {self.root} to rebuild it"
                )
            self._mem[i] = clip
        return self._mem[i]

    def batch(self, step: int, size: int, frames: int, points: int, seed: int) -> dict[str, torch.Tensor]:
        """The batch of `step` (depends only on seed and step): a random window of `frames` frames of
        `size` clips. raw/target `[B, T, 3, C, P, P]`, prior `[B, 3, C, P, P]`, visibility
        `[B, T, 3, 1, V, V]`, reference_visibility `[B, 3, 1, V, V]`, novel_rgb `[B, T, N, 3, r, r]`,
        novel_mask `[B, T, N, 1, r, r]`, novel_c2w `[B, N, 4, 4]`, novel_K `[B, N, 3, 3]`, points
        `[B, T, M, 3]`, density `[B, T, M, 1]`, colour `[B, T, M, 3]`."""
        rng = np.random.default_rng([seed, step])
        n = len(self.files)
        epoch, offset = divmod(step * size, n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        keys = ("raw", "target", "prior", "visibility", "reference_visibility", "novel_rgb", "novel_mask",
                "novel_c2w", "novel_K", "points", "density", "colour")
        out: dict[str, list] = {k: [] for k in keys}
        for k in range(size):
            c = self.load(int(order[(offset + k) % n]))
            T = c["raw"].shape[0]
            t0 = int(rng.integers(0, T - frames + 1))
            w = slice(t0, t0 + frames)
            p = rng.choice(c["points"].shape[1], points, replace=False)
            out["raw"].append(torch.from_numpy(c["raw"][w].astype(np.float32)))
            out["target"].append(torch.from_numpy(c["target"][w].astype(np.float32)))
            out["prior"].append(torch.from_numpy(c["prior"].astype(np.float32)))
            out["visibility"].append(torch.from_numpy(c["visibility"][w]).float()[:, :, None] / 255)
            out["reference_visibility"].append(torch.from_numpy(c["reference_visibility"]).float()[:, None] / 255)
            out["novel_rgb"].append(torch.from_numpy(c["novel_rgb"][w]).permute(0, 1, 4, 2, 3).float() / 255)
            out["novel_mask"].append(torch.from_numpy(c["novel_mask"][w]).float()[:, :, None] / 255)
            out["novel_c2w"].append(torch.from_numpy(c["novel_c2w"]))
            out["novel_K"].append(torch.from_numpy(c["novel_K"]))
            out["points"].append(torch.from_numpy(c["points"][w][:, p].astype(np.float32)))
            out["density"].append(torch.from_numpy(c["density"][w][:, p].astype(np.float32))[..., None])
            out["colour"].append(torch.from_numpy(c["colour"][w][:, p]).float() / 255)
        return {k: torch.stack(v) for k, v in out.items()}


def build_clip_cache(root: Path, count: int, seed: int, lifter_path: Path, frames: int = 8, image_size: int = 128,
                     novel_views: int = 2, novel_res: int = 64, points: int = 2048, progress: bool = True,
                     workers: int = 1) -> Path:
    """Make the clips `0..count-1` missing in `root` (resumable; one file per clip), `workers` processes."""
    args = (root, count, seed, str(lifter_path), frames, image_size, novel_views, novel_res, points)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            pool.starmap(_build_shard, [(*args, progress and k == 0, (k, workers)) for k in range(workers)])
        return Path(root)
    return _build_shard(*args, progress, (0, 1))


def _build_shard(root, count, seed, lifter_path, frames, image_size, novel_views, novel_res, points, progress,
                 shard) -> Path:
    from tqdm import tqdm

    from backend.models.weights import load_lifter

    if shard[1] > 1:
        torch.set_num_threads(1)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(shard[0], count, shard[1]) if not (root / f"clip_{i:06d}.npz").exists()]
    if not todo:
        return root
    lifter, sha = load_lifter(lifter_path), file_sha256(Path(lifter_path))
    for i in tqdm(todo, desc="fusion clips", unit="clip", disable=not progress):
        path = root / f"clip_{i:06d}.npz"
        with atomic_path(path) as tmp:
            np.savez(tmp, **make_clip(i, seed, lifter, sha, frames, image_size, novel_views, novel_res, points))
    return root
