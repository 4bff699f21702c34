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
import time
from pathlib import Path

import numpy as np
import torch

from backend.files import atomic_path
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


def _other_views(yaw: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """`n` supervision cameras `[n, 4, 4]` around the head: yaw spread over +-100 deg of the input's
    (jittered), pitch within +-25 deg."""
    others_yaw = yaw + torch.linspace(-1.0, 1.0, n) * math.radians(100) + (torch.rand(n, generator=gen) - 0.5) * 0.4
    others_pitch = (torch.rand(n, generator=gen) - 0.5) * math.radians(50)
    return orbit_camera(others_yaw, others_pitch)


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
    view_c2w = torch.cat([c2w, _other_views(yaw, views - 1, gen)])
    view_K = torch.cat([K, intrinsics_matrix(batch=views - 1)])
    return {
        "image": _u8(image[0].permute(1, 2, 0)),
        **_supervision(head, view_c2w, view_K, view_res, background, points, gen),
        "identity_seed": np.array(seed + index),
    }


PLATE_SIZE = 256
"""Side of the rendered plate (source frame) of a tracked sample, pixels."""


def sample_plate_camera(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float, float]]:
    """A plate camera as real footage has: the angles of `sample_input_camera`, a true focal 0.8-1.6x
    the preprocessor's guess (the longer side), the head filling 45-90 % of the frame's height and off
    centre by up to 12 %. Returns cam2world `[1, 4, 4]`, normalized K `[1, 3, 3]`, angles."""

    def u(lo, hi):
        return float(torch.empty(1).uniform_(lo, hi, generator=gen))

    yaw = math.radians(u(-45, 45) if u(0, 1) < 0.8 else u(-70, 70))
    pitch, roll = math.radians(u(-25, 25)), math.radians(u(-10, 10))
    focal = u(0.8, 1.6)
    radius = max(1.3, u(0.9, 1.6) * focal)  # frame span at the pivot = radius / focal box units
    c2w = orbit_camera(yaw, pitch, radius=radius, roll=roll)
    K = intrinsics_matrix(focal, 0.5 + u(-0.12, 0.12), 0.5 + u(-0.12, 0.12), batch=1)
    return c2w, K, (yaw, pitch, roll)


class TrackedSampler:
    """Makes lifter samples the way the pipeline sees real footage: a plate is rendered, the face
    preprocessor (MediaPipe + the pose solve against a frontal reference render of the same head)
    makes the crop, its solved camera and its landmarks. Keeps one preprocessor (and its MediaPipe
    graphs) for all samples; `close()` it when done."""

    def __init__(self, crop_size: int, view_res: int, views: int, points: int):
        self.crop_size, self.view_res, self.views, self.points = crop_size, view_res, views, points
        self._face = None

    def _preprocess(self, reference: np.ndarray, plate: np.ndarray):
        """The plate's `FaceResult` against `reference` (a fresh clip of one frame)."""
        from backend.face import FaceConfig, FacePreprocessor

        if self._face is None:
            cfg = FaceConfig(
                crop_size=self.crop_size, smooth=False, mesh_tracking=False, no_face="skip", identity=False
            )  # synthetic: one person, known
            self._face = FacePreprocessor(reference, cfg)
        else:
            self._face.set_reference(reference)
        return self._face.process_frame(plate, 0)

    def __call__(self, index: int, seed: int) -> tuple[dict[str, np.ndarray] | None, str | None]:
        """Sample `index` (identity seed = seed + index): its arrays, or None and why MediaPipe or the
        pose solve failed on it."""
        from backend.face import NoFaceError

        gen = torch.Generator().manual_seed(seed * 7919 + index)
        identity = Identity.sample(seed + index)
        head = SynthHead(identity, Expression.sample(gen), Lighting.sample(gen))
        c2w, K, (yaw, _, _) = sample_plate_camera(gen)
        background = torch.rand(3, generator=gen) * 0.8 + 0.1
        shoulders = (torch.rand(3, generator=gen) - 0.5) * torch.tensor([0.6, 0.2, 0.2])
        plate = render_gt(head, c2w, K, PLATE_SIZE, shoulders=shoulders, background=background)["rgb"]
        ref_head = SynthHead(identity, Expression.neutral(), Lighting.studio())
        ref_c2w, ref_K = orbit_camera(0.0), intrinsics_matrix(batch=1)
        reference = render_gt(ref_head, ref_c2w, ref_K, PLATE_SIZE, background=torch.full((3,), 0.8))["rgb"]
        try:
            face = self._preprocess(_u8(reference[0].permute(1, 2, 0)), _u8(plate[0].permute(1, 2, 0)))
        except NoFaceError as error:
            return None, f"reference: {error}"
        if face.status != "ok":
            return None, f"plate (yaw {math.degrees(yaw):.0f} deg): {face.reason}"
        # The crop's true camera: the plate camera with the crop's similarity applied to its intrinsics.
        K_px = K[0].double().numpy() * np.array([[PLATE_SIZE], [PLATE_SIZE], [1.0]])
        K_crop = face.crop_matrix @ K_px / np.array([[self.crop_size], [self.crop_size], [1.0]])
        views = self.views
        view_c2w = torch.cat([c2w, _other_views(yaw, views - 1, gen)])
        view_K = torch.cat([torch.from_numpy(K_crop).float()[None], intrinsics_matrix(batch=views - 1)])
        arrays = _supervision(head, view_c2w, view_K, self.view_res, background, self.points, gen)
        from backend.face.geometry import crop_landmarks

        arrays.update(
            image=face.crop,
            cam2world=face.cam2world.astype(np.float32),
            intrinsics=face.intrinsics.astype(np.float32),
            crop_landmarks=crop_landmarks(face.landmarks, face.crop_matrix),
            template_points=self._face.template.points.astype(np.float32),
            reprojection_error=np.array(face.reprojection_error, dtype=np.float32),
            identity_seed=np.array(seed + index),
        )
        return arrays, None

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        if self._face is not None:
            self._face.close()


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def _supervision(head, view_c2w, view_K, view_res, background, points, gen) -> dict[str, np.ndarray]:
    """Ground-truth views of the head alone and field samples (see the module doc for the keys)."""
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
    return {
        "view_rgb": _u8(gt["rgb"].permute(0, 2, 3, 1)),
        "view_mask": _u8(gt["head_mask"][:, 0]),
        "view_c2w": view_c2w.numpy().astype(np.float32),
        "view_K": view_K.numpy().astype(np.float32),
        "background": background.numpy().astype(np.float32),
        "points": pts.numpy().astype(np.float16),
        "density": density[0, :, 0].numpy().astype(np.float16),
        "colour": _u8(colour[0, :, :3]),
    }


def sample_path(root: Path, index: int) -> Path:
    """Where sample `index` of a cache lives."""
    return Path(root) / f"sample_{index:06d}.npz"


def failure_path(root: Path, index: int) -> Path:
    """The marker of a sample whose plate MediaPipe or the pose solve failed on (its text says why)."""
    return Path(root) / f"sample_{index:06d}.failed.txt"


def read_failures(root: Path) -> dict[int, str]:
    """The failed samples of a cache: index -> reason."""
    return {int(p.name[7:13]): p.read_text().strip() for p in sorted(Path(root).glob("sample_*.failed.txt"))}


_KEYS = ("image", "points", "density", "colour", "view_c2w", "view_K", "view_rgb", "view_mask", "background")
_TRACKED_KEYS = ("geometry", "cam2world", "intrinsics")


class SampleCache:
    """A folder of `sample_XXXXXX.npz` files; `batch(step, ...)` draws a deterministic batch.

    Without `window`, batches are epochs over every sample present. With `window = (start, rate, size)`
    the cache is a stream that a generator fills in index order while training runs: step s draws from
    the newest `size` of the first `min(count, start + rate * s)` samples, waiting for them if needed.
    Either way the batch of a step depends only on (seed, step), so a resumed run sees the same data.
    """

    def __init__(self, root: Path, window: tuple[int, float, int] | None = None, count: int | None = None):
        self.root = Path(root)
        self.window, self.count = window, count
        if window is None:
            self.indices = sorted(int(p.name[7:13]) for p in self.root.glob("sample_??????.npz"))
            if not self.indices:
                raise FileNotFoundError(
                    f"no cached samples in {self.root}; make them with `headfuse train --stage encoder`"
                )
        self._mem: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.indices) if self.window is None else int(self.count)

    def load(self, index: int) -> dict[str, np.ndarray]:
        """Sample `index` as numpy arrays (kept in memory: the whole cache, or the stream's window)."""
        if index not in self._mem:
            with np.load(sample_path(self.root, index)) as z:
                self._mem[index] = {k: z[k] for k in z.files}
        return self._mem[index]

    def _pick(self, step: int, size: int, seed: int) -> list[int]:
        """The sample indices of `step`'s batch."""
        if self.window is None:
            n = len(self.indices)
            epoch, offset = divmod(step * size, n)
            order = np.random.default_rng([seed, epoch]).permutation(n)
            return [self.indices[order[(offset + k) % n]] for k in range(size)]
        start, rate, width = self.window
        hi = min(int(self.count), start + int(rate * step))
        lo = max(0, hi - width)
        for old in [i for i in self._mem if i < lo]:
            del self._mem[old]
        rng = np.random.default_rng([seed, step, 1])
        picked: list[int] = []
        while len(picked) < size:
            index = int(rng.integers(lo, hi))
            while not sample_path(self.root, index).exists():
                if failure_path(self.root, index).exists():
                    break
                time.sleep(0.5)  # the generator has not made it yet
            else:
                picked.append(index)
        return picked

    def batch(
        self, step: int, size: int, points: int, views: int, view_res: int, seed: int, image_size: int | None = None
    ) -> dict[str, torch.Tensor]:
        """The batch of `step`: image `[B, 3, S, S]`, points `[B, N, 3]`, density `[B, N, 1]`, colour
        `[B, N, 3]`, view_c2w `[B, V, 4, 4]`, view_K `[B, V, 3, 3]`, view_rgb `[B, V, 3, r, r]`,
        view_mask `[B, V, 1, r, r]`, background `[B, 3]`; tracked samples add the face-mesh `geometry`
        `[B, 8, S, S]` and the solved camera `cam2world [B, 4, 4]`, `intrinsics [B, 3, 3]`.
        Depends only on (seed, step). `image_size` resizes the crops (and their geometry) when given."""
        from backend.face.geometry import geometry_channels

        rng = np.random.default_rng([seed, step])
        out: dict[str, list] = {k: [] for k in _KEYS + _TRACKED_KEYS}
        for i in self._pick(step, size, seed):
            s = self.load(i)
            p = rng.choice(s["points"].shape[0], points, replace=s["points"].shape[0] < points)
            v = np.concatenate([[0], 1 + rng.choice(s["view_c2w"].shape[0] - 1, views - 1, replace=False)])
            image = torch.from_numpy(s["image"]).permute(2, 0, 1).float() / 255
            S = image_size or image.shape[-1]
            if image.shape[-1] != S:
                image = torch.nn.functional.interpolate(image[None], size=S, mode="area")[0]
            out["image"].append(image)
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
            if "crop_landmarks" in s:
                lm = s["crop_landmarks"] * (S / s["image"].shape[0])
                geometry = geometry_channels(lm, s["template_points"], S)
                out["geometry"].append(torch.from_numpy(geometry))
                out["cam2world"].append(torch.from_numpy(s["cam2world"]))
                out["intrinsics"].append(torch.from_numpy(s["intrinsics"]))
        return {k: torch.stack(v) for k, v in out.items() if v}


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
    tracked: bool = False,
    start: int = 0,
    threads: int = 0,
) -> Path:
    """Make the samples `start..count-1` that are missing in `root` (resumable; one file per sample).

    `tracked`: samples as at test time (`TrackedSampler`: a plate through MediaPipe and the pose solve,
    `image_size` the crop); otherwise the crop rendered from the canonical camera (`make_sample`).
    A tracked sample whose plate fails gets a `failure_path` marker with the reason instead.
    With `workers > 1`, that many processes (one torch thread each) share the work; otherwise this
    process makes them, with `threads` torch threads (0 leaves the setting alone).
    """
    args = (root, count, seed, image_size, view_res, views, points, tracked, start)
    if workers > 1:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(workers) as pool:
            pool.starmap(_build_shard, [(*args, progress and k == 0, 1, (k, workers)) for k in range(workers)])
        return Path(root)
    return _build_shard(*args, progress, threads, (0, 1))


def _build_shard(root, count, seed, image_size, view_res, views, points, tracked, start, progress, threads, shard):
    if threads:
        torch.set_num_threads(threads)
    from tqdm import tqdm

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    todo = [
        i
        for i in range(start + shard[0], count, shard[1])
        if not sample_path(root, i).exists() and not failure_path(root, i).exists()
    ]
    sampler = TrackedSampler(image_size, view_res, views, points) if tracked else None
    try:
        for i in tqdm(todo, desc="synthetic samples", unit="sample", disable=not progress):
            path = sample_path(root, i)
            if sampler is None:
                arrays, why = make_sample(i, seed, image_size, view_res, views, points), None
            else:
                arrays, why = sampler(i, seed)
            if arrays is None:
                failure_path(root, i).write_text(why + "\n")
                continue
            with atomic_path(path) as tmp:
                np.savez_compressed(tmp, **arrays)
    finally:
        if sampler is not None:
            sampler.close()
    return root
