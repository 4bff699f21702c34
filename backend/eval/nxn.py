"""`headfuse eval --protocol nxn`: the N x N protocol on held-out synthetic clips.

A held-out clip (identity seeds from `NxNConfig.seed`, never trained on) is filmed by a rig of
N synchronized cameras spread in yaw from -60 to +60 deg. Each view in turn is the input video:
every method reconstructs the clip from it, frame by frame with its recurrent state, and the
result of every frame is rendered from all N views and compared with the exact ground truth (the
head alone over grey). The diagonal measures input-view fidelity, the rest novel views, so a
method that only copies its input scores well on the diagonal and badly off it.

Methods (`backend.models.fusion.METHODS`): `per-frame` (the lifter alone), `undistorter-only`,
`fuser-only` (the fuser on the raw planes) and `fused` (both), reported under `report_key` (`per_frame`,
`undistorter_only`, `fuser_only`, `fused`). Metrics per method:

- `psnr`, `ssim` over all pairs; `psnr_novel`, `ssim_novel` off the diagonal; `psnr_input` on it;
  `psnr_matrix` `[N, N]` (input view x evaluated view, mean over frames).
- `temporal_variation`: in each fixed novel view, the frame-to-frame change of the prediction minus
  the ground truth's own change, mean |dP - dG| on the 0..255 scale (flicker and missed motion both
  count; 0 is a prediction that changes exactly as the truth does).
- `psnr_occluded`: inputs at |yaw| >= `occluded_min_yaw` evaluated from the other side of the head
  (the side that frame cannot see).
- `landmark_nme`: MediaPipe face-mesh landmarks on the frontal render of the prediction vs of the
  truth, mean distance / the truth's interocular distance (frames every `detail_every`).
- `chamfer_mm`: the predicted mesh vs the reference mesh of the frame, in millimetres.

For scale, `static_prior` scores the prior triplane shown unchanged in every frame (it moves with
the head pose only): it has no flicker at all, only the truth's expression and lighting changes it
misses, so its temporal variation is what stabilising alone can reach.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from backend.config import MeshConfig, RenderConfig
from backend.mesh import EmptySurfaceError, mesh_from_field
from backend.metrics import chamfer_distance, psnr, ssim
from backend.models.fusion import METHODS, FusionNet
from backend.models.lifter import Lifter
from backend.render.cameras import DEFAULT_PIVOT, DEFAULT_RADIUS, orbit_camera
from backend.render.rays import generate_rays
from backend.render.renderer import render_rays
from backend.synth.cameras import frontal_camera, rig_cameras
from backend.synth.clip import clip_states
from backend.synth.expression import Expression
from backend.synth.head import SynthHead
from backend.synth.lighting import Lighting
from backend.synth.meshing import reference_mesh
from backend.synth.render import render_gt

BACKGROUND = 0.5
"""Grey behind the head in every compared render."""
REPORTED = ("mean_head", "lifter_v1", *METHODS)
"""Every method the report may hold, in its order; the first two need a baseline lifter."""


def report_key(method: str) -> str:
    """The key a method's scores have in the report (`per-frame` -> `per_frame`): JSON keys are identifiers."""
    return method.replace("-", "_")


@dataclass
class NxNConfig:
    """The N x N evaluation."""

    clips: int = 3
    """Held-out clips (identities)."""
    frames: int = 8
    """Frames per clip."""
    views: int = 5
    """N: synchronized views, evenly spread in yaw over +-spread/2."""
    spread_deg: float = 120.0
    """Yaw spread of the rig (120: views from -60 to +60 deg)."""
    fps: float = 12.0
    """Frame rate of the clips' motion."""
    input_size: int = 128
    """Side of the input views (aligned-crop-like: torso and background)."""
    eval_size: int = 128
    """Side of the compared renders."""
    n_coarse: int = 32
    """Stratified samples per ray of the compared renders."""
    n_fine: int = 32
    """Importance samples per ray."""
    detail_every: int = 4
    """Landmarks and Chamfer on every this many frames (0: neither)."""
    landmark_size: int = 192
    """Side of the frontal renders the face mesh runs on."""
    mesh_resolution: int = 64
    """Marching-cubes cells per side for the Chamfer distance."""
    occluded_min_yaw: float = 45.0
    """Inputs at least this far from frontal count for `psnr_occluded`."""
    strip_frames: int = 8
    """Frames shown in the figure's profile strip."""
    seed: int = 1_500_000
    """First held-out clip seed (training clips use seeds below 1_000_000)."""
    mesh_texture_size: int = 512
    """Texture side of the textured-mesh rows (0: no such rows): the fused mesh of every frame, textured
    by projection from its input view and the reference, and by the field's colour, rendered from every view."""


def _rgb(out: dict, n: int, r: int) -> torch.Tensor:
    """render_rays output for `n` views of `r x r` -> `[n, 3, r, r]` over grey."""
    rgb = out["features"][0, :, :3] + (1 - out["opacity"][0]) * BACKGROUND
    return rgb.reshape(n, r, r, 3).permute(0, 3, 1, 2).clamp(0, 1)


@torch.no_grad()
def render_views(lifter: Lifter, planes: torch.Tensor, c2w: torch.Tensor, K: torch.Tensor, res: int,
                 cfg: RenderConfig) -> torch.Tensor:
    """Planes `[1, 3, C, P, P]` rendered from cameras `[n, 4, 4]`, `[n, 3, 3]` -> `[n, 3, res, res]` over grey."""
    origins, dirs = generate_rays(c2w, K, res)  # [n, res*res, 3]
    n = c2w.shape[0]
    out = render_rays(lifter.field(planes), origins.reshape(1, -1, 3), dirs.reshape(1, -1, 3), cfg)
    return _rgb(out, n, res)


@torch.no_grad()
def make_clip(seed: int, cfg: NxNConfig) -> dict:
    """Ground truth of held-out clip `seed`: inputs `[N, T, 3, S, S]`, truth `[N, T, 3, r, r]`, cameras
    `c2w [N, T, 4, 4]`, `K [N, 3, 3]`, `yaw_deg [N]` (ascending), reference `[3, S, S]`, heads (per frame)."""
    identity, states = clip_states(seed, cfg.frames, cfg.fps)
    rig_c2w, rig_K = rig_cameras(cfg.views, cfg.spread_deg, DEFAULT_RADIUS)
    yaws = torch.tensor([math.degrees(math.atan2(float(c[0, 3]), float(c[2, 3]) - DEFAULT_PIVOT[2]))
                         for c in rig_c2w])  # where each camera stands around the head (+ is the head's left)
    order = torch.argsort(yaws)
    rig_c2w, rig_K, yaws = rig_c2w[order], rig_K[order], yaws[order]
    gen = torch.Generator().manual_seed(seed)
    background = torch.rand(3, generator=gen) * 0.8 + 0.1
    N, T = cfg.views, cfg.frames
    inputs = torch.zeros(N, T, 3, cfg.input_size, cfg.input_size)
    truth = torch.zeros(N, T, 3, cfg.eval_size, cfg.eval_size)
    c2w = torch.zeros(N, T, 4, 4)
    heads = []
    for t, st in enumerate(states):
        head = SynthHead(identity, st.expression, st.lighting)
        heads.append(head)
        cams = torch.linalg.inv(st.head_pose)[None] @ rig_c2w  # [N, 4, 4] the rig in the head frame
        c2w[:, t] = cams
        shoulders = torch.tensor(st.shoulders)
        inputs[:, t] = render_gt(head, cams, rig_K, cfg.input_size, shoulders=shoulders, background=background)["rgb"]
        truth[:, t] = render_gt(head, cams, rig_K, cfg.eval_size, torso=False,
                                background=torch.full((3,), BACKGROUND))["rgb"]
    front_c2w, front_K = frontal_camera()
    ref_head = SynthHead(identity, Expression.neutral(), Lighting.studio())
    reference = render_gt(ref_head, front_c2w, front_K, cfg.input_size, background=background)["rgb"][0]
    return {"inputs": inputs, "truth": truth, "c2w": c2w, "K": rig_K, "yaw_deg": yaws, "reference": reference,
            "heads": heads, "states": states, "seed": seed}


@torch.no_grad()
def lift_views(lifter: Lifter, clip: dict, fps: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Every view of the clip lifted as the pipeline lifts a video (`models.clip_lifting`): raw triplanes
    `[N, T, 3, C, P, P]`, the reference's `[1, 3, C, P, P]` and how many frames the preprocessor skipped."""
    from backend.models.clip_lifting import lift_clip

    reference = _u8(clip["reference"])
    raw, prior, skipped = [], None, 0
    for v, inputs in enumerate(clip["inputs"]):  # [T, 3, S, S] one view as the input video
        frames = np.stack([_u8(f) for f in inputs])
        K = clip["K"][v].expand(inputs.shape[0], 3, 3).numpy()
        lifted = lift_clip(lifter, frames, reference, clip["c2w"][v].numpy(), K, fps)
        raw.append(lifted.planes)
        prior, skipped = lifted.prior, skipped + len(lifted.skipped)
    return torch.stack(raw), prior, skipped


def _u8(image: torch.Tensor) -> np.ndarray:
    """`[3, S, S]` 0..1 -> `[S, S, 3]` uint8."""
    return (image.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


@torch.no_grad()
def reconstruct_views(fusion: FusionNet, raw: torch.Tensor, prior: torch.Tensor, method: str) -> torch.Tensor:
    """Triplanes `[N, T, 3, C, P, P]`: the clip's raw planes (`lift_views`) taken frame by frame through
    `method`, from each view in turn."""
    out = []
    for view in raw:  # [T, 3, C, P, P]
        state = fusion.start(prior)
        planes = []
        for t in range(view.shape[0]):
            p, state = fusion.fuse_frame(view[t : t + 1], state, method)
            planes.append(p[0])
        out.append(torch.stack(planes))
    return torch.stack(out)


class _Landmarks:
    """MediaPipe face-mesh landmarks of a render (None when no face is found)."""

    def __init__(self):
        from backend.face.detect import FaceDetector

        self.detector = FaceDetector()

    def __call__(self, image: torch.Tensor) -> np.ndarray | None:
        img = (image.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
        boxes = self.detector.detect(img)
        if not boxes:
            return None
        lm = self.detector.landmarks(img, max(boxes, key=lambda b: b.score))
        return None if lm is None else lm[:, :2]

    def close(self):
        self.detector.close()


def _tv(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """Temporal variation of one fixed view over frames: pred, truth `[T, 3, r, r]` -> mean |dP - dG| x 255."""
    if pred.shape[0] < 2:
        return 0.0
    return float(((pred[1:] - pred[:-1]) - (truth[1:] - truth[:-1])).abs().mean() * 255.0)


def evaluate_clip(lifter: Lifter, fusion: FusionNet, clip: dict, cfg: NxNConfig, landmarks: _Landmarks | None,
                  progress=None, baseline: Lifter | None = None, mean_head: torch.Tensor | None = None) -> dict:
    """Every method's raw per-clip measurements (see the module docstring) and its profile strip.
    `baseline`: another lifter, scored per-frame as `lifter_v1`; `mean_head [1, 3, C, P, P]`: its mean
    triplane, scored in every frame as `mean_head`."""
    N, T = cfg.views, cfg.frames
    rcfg = RenderConfig(n_coarse=cfg.n_coarse, n_fine=cfg.n_fine)
    yaw = clip["yaw_deg"]
    detail = list(range(0, T, cfg.detail_every)) if cfg.detail_every > 0 else []
    front = int(torch.argmin(yaw.abs()))
    profile = int(torch.argmax(yaw))
    # ground truth only needed here: the frontal landmark renders and the reference meshes
    lm_c2w = orbit_camera(torch.zeros(len(detail)))  # [D, 4, 4] the default portrait camera
    lm_K = clip["K"][front : front + 1].expand(len(detail), 3, 3)
    gt_lm = []
    for k, t in enumerate(detail):
        img = render_gt(clip["heads"][t], lm_c2w[k : k + 1], lm_K[:1], cfg.landmark_size, torso=False,
                        background=torch.full((3,), BACKGROUND))["rgb"][0]
        gt_lm.append(landmarks(img) if landmarks is not None else None)
    ref_meshes = {t: reference_mesh(clip["heads"][t], cfg.mesh_resolution) for t in detail}
    mesh_cfg = MeshConfig(resolution=cfg.mesh_resolution, texture_size=0)
    raw, prior, skipped = lift_views(lifter, clip, cfg.fps)
    sources = {m: (lifter, lambda m=m: reconstruct_views(fusion, raw, prior, m)) for m in METHODS}
    if baseline is not None:
        sources["lifter_v1"] = (baseline, lambda: lift_views(baseline, clip, cfg.fps)[0])
        if mean_head is not None:
            sources["mean_head"] = (baseline, lambda: mean_head[None].expand(N, T, *mean_head.shape[1:]))
    result = {"skipped_frames": skipped}
    for method, (decoder, make) in sources.items():
        planes = make()  # [N, T, 3, C, P, P]
        pred = torch.zeros(N, N, T, 3, cfg.eval_size, cfg.eval_size)  # input view, eval view, frame
        for i in range(N):
            for t in range(T):
                pred[i, :, t] = render_views(decoder, planes[i, t][None], clip["c2w"][:, t], clip["K"], cfg.eval_size,
                                             rcfg)
        scores = view_matrices(pred, clip["truth"])
        nme, failed, chamfer = [], 0, []
        for i in range(N):
            for k, t in enumerate(detail):
                if landmarks is not None and gt_lm[k] is not None:
                    img = render_views(decoder, planes[i, t][None], lm_c2w[k : k + 1], lm_K[:1],
                                       cfg.landmark_size, rcfg)[0]
                    lm = landmarks(img)
                    if lm is None:
                        failed += 1
                    else:
                        iod = float(np.linalg.norm(gt_lm[k][468] - gt_lm[k][473]))
                        nme.append(float(np.linalg.norm(lm - gt_lm[k], axis=1).mean()) / max(iod, 1e-6))
                try:
                    mesh = mesh_from_field(decoder.field(planes[i, t][None]), mesh_cfg)
                    chamfer.append(chamfer_distance(mesh.vertices, ref_meshes[t].vertices) * 1000.0)
                except EmptySurfaceError:
                    chamfer.append(float("nan"))
        result[method] = {
            **scores,
            "nme": nme,
            "landmark_failures": failed,
            "chamfer": chamfer,
            "strip": pred[front, profile, : cfg.strip_frames].clone(),
        }
        if method == "fused" and cfg.mesh_texture_size > 0:
            for texture, rows in mesh_rows(decoder, planes, clip, cfg).items():
                result[f"mesh_{texture}"] = rows
        if progress is not None:
            progress.update(1)
    still = torch.stack([render_views(lifter, prior, clip["c2w"][:, t], clip["K"], cfg.eval_size, rcfg)
                         for t in range(T)], 1)  # [N, T, 3, r, r] the same prior in every frame
    result["static_prior"] = {"psnr": [float(psnr(still[j], clip["truth"][j]).mean()) for j in range(N)],
                              "tv": [_tv(still[j], clip["truth"][j]) for j in range(N)]}
    result["truth_strip"] = clip["truth"][profile, : cfg.strip_frames].clone()
    return result


MESH_TEXTURES = ("projected", "field")
"""The textured-mesh rows: `mesh_projected` and `mesh_field` (of the `fused` method's fields)."""


@torch.no_grad()
def mesh_rows(decoder: Lifter, planes: torch.Tensor, clip: dict, cfg: NxNConfig) -> dict:
    """The fused method's meshes of every (input view, frame), textured by projection from that input view
    (with the reference as fill) and by the field's colour, rendered unlit from every view over grey:
    `{texture: {"psnr_matrix" [N, N], "ssim_matrix", "tv_matrix"}}`. planes `[N, T, 3, C, P, P]`."""
    from backend.mesh.build import field_colours
    from backend.mesh.projection import PhotoView, TextureBlender
    from backend.mesh.raster import camera_raster, shade_textured
    from backend.mesh.texture import bake_texture
    from backend.units import metres_to_box

    N, T, r, s = cfg.views, cfg.frames, cfg.eval_size, cfg.input_size
    mesh_cfg = MeshConfig(resolution=cfg.mesh_resolution, texture_size=cfg.mesh_texture_size)
    front_c2w, front_K = frontal_camera()
    to_px = np.diag([s, s, 1.0])
    reference = PhotoView(_u8(clip["reference"]), front_c2w[0].double().numpy(), to_px @ front_K[0].double().numpy(),
                          "the reference render")
    preds = {t: torch.full((N, N, T, 3, r, r), BACKGROUND) for t in MESH_TEXTURES}
    for i in range(N):
        blender = TextureBlender(reference)
        for t in range(T):
            field = decoder.field(planes[i, t][None])
            frame = PhotoView(_u8(clip["inputs"][i, t]), clip["c2w"][i, t].double().numpy(),
                              to_px @ clip["K"][i].double().numpy(), f"view {i} frame {t}")
            try:  # one mesh, two textures of it: projected, and the field's colour baked
                mesh = mesh_from_field(field, mesh_cfg, texturer=blender.texturer(frame))
            except EmptySurfaceError:
                continue
            verts = metres_to_box(mesh.vertices.astype(np.float64))
            baked, _ = bake_texture(verts, mesh.faces, mesh.uv, lambda q, f=field: field_colours(f, q),
                                    cfg.mesh_texture_size)
            textures = {"projected": mesh.texture, "field": baked}
            for j in range(N):
                K = np.diag([r, r, 1.0]) @ clip["K"][j].double().numpy()
                raster = camera_raster(verts, mesh.faces, clip["c2w"][j, t].double().numpy(), K, r, r)
                for texture, image in textures.items():
                    img = shade_textured(raster, mesh.faces, mesh.uv, image, (BACKGROUND,) * 3)
                    preds[texture][i, j, t] = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    return {texture: view_matrices(pred, clip["truth"]) for texture, pred in preds.items()}


def view_matrices(pred: torch.Tensor, truth: torch.Tensor) -> dict:
    """Renders `pred [N, N, T, 3, r, r]` (input view, evaluated view, frame) against `truth [N, T, 3, r, r]`:
    `psnr_matrix`, `ssim_matrix` and `tv_matrix` `[N, N]` (mean over frames; temporal variation per view)."""
    n = pred.shape[0]
    ps, ss, tv = torch.zeros(n, n), torch.zeros(n, n), torch.zeros(n, n)
    for i in range(n):
        for j in range(n):
            ps[i, j] = psnr(pred[i, j], truth[j]).mean()
            ss[i, j] = ssim(pred[i, j], truth[j]).mean()
            tv[i, j] = _tv(pred[i, j], truth[j])
    return {"psnr_matrix": ps, "ssim_matrix": ss, "tv_matrix": tv}


def _reported(per_clip: list[dict]) -> list[str]:
    return [m for m in REPORTED if m in per_clip[0]]


def _summarize(per_clip: list[dict], yaw: torch.Tensor, cfg: NxNConfig) -> dict:
    N = len(yaw)
    off = ~torch.eye(N, dtype=torch.bool)
    occluded = torch.zeros(N, N, dtype=torch.bool)
    for i in range(N):
        for j in range(N):
            occluded[i, j] = abs(float(yaw[i])) >= cfg.occluded_min_yaw and float(yaw[i]) * float(yaw[j]) < 0
    summary = {}

    def image_scores(key: str) -> dict:
        ps = torch.stack([c[key]["psnr_matrix"] for c in per_clip]).mean(0)
        ss = torch.stack([c[key]["ssim_matrix"] for c in per_clip]).mean(0)
        tv = torch.stack([c[key]["tv_matrix"] for c in per_clip]).mean(0)
        return {
            "psnr": round(float(ps.mean()), 3),
            "psnr_input": round(float(ps.diagonal().mean()), 3),
            "psnr_novel": round(float(ps[off].mean()), 3),
            "psnr_occluded": round(float(ps[occluded].mean()), 3) if occluded.any() else None,
            "ssim": round(float(ss.mean()), 4),
            "ssim_novel": round(float(ss[off].mean()), 4),
            "temporal_variation": round(float(tv[off].mean()), 4),
            "psnr_matrix": [[round(float(v), 2) for v in row] for row in ps],
        }

    for method in _reported(per_clip):
        nme = [x for c in per_clip for x in c[method]["nme"]]
        chamfer = [x for c in per_clip for x in c[method]["chamfer"] if not math.isnan(x)]
        summary[report_key(method)] = {
            **image_scores(method),
            "landmark_nme": round(float(np.mean(nme)), 4) if nme else None,
            "landmark_failures": sum(c[method]["landmark_failures"] for c in per_clip),
            "chamfer_mm": round(float(np.mean(chamfer)), 3) if chamfer else None,
        }
    for key in [f"mesh_{t}" for t in MESH_TEXTURES if f"mesh_{t}" in per_clip[0]]:
        summary[key] = image_scores(key)
    summary["skipped_frames"] = sum(c["skipped_frames"] for c in per_clip)
    summary["static_prior"] = {
        "psnr": round(float(np.mean([c["static_prior"]["psnr"] for c in per_clip])), 3),
        "temporal_variation": round(float(np.mean([c["static_prior"]["tv"] for c in per_clip])), 4),
    }
    pf, fu = summary["per_frame"], summary["fused"]
    gain = fu["psnr_novel"] - pf["psnr_novel"]
    cut = 1.0 - fu["temporal_variation"] / max(pf["temporal_variation"], 1e-9)

    def between(key):
        lo, hi = sorted((pf[key], fu[key]))
        return all(lo <= summary[m][key] <= hi for m in ("undistorter_only", "fuser_only"))

    summary["goals"] = {
        "psnr_novel_gain_db": round(gain, 3),
        "psnr_novel_gain_met": gain >= 0.5,
        "temporal_variation_cut": round(cut, 4),
        "temporal_variation_cut_met": cut >= 0.25,
        "ablations_between_psnr_novel": between("psnr_novel"),
        "ablations_between_temporal_variation": between("temporal_variation"),
        "occluded_side_fused_better": (fu["psnr_occluded"] or 0) > (pf["psnr_occluded"] or 0),
    }
    return summary


def _cache_path(cache: Path, seed: int) -> Path:
    return Path(cache) / f"clip_{seed}.pt"


def _cache_identity(cfg: NxNConfig, key: str) -> dict:
    """What a cached clip must have been measured with: every setting but the clip count, and `key` (the
    networks' identity, e.g. their SHA-256s)."""
    return {**{k: v for k, v in asdict(cfg).items() if k != "clips"}, "key": key}


def save_clip_result(cache: Path, seed: int, cfg: NxNConfig, key: str, result: dict, keep_strips: bool) -> Path:
    """Keep one clip's measurements (`evaluate_clip`'s result) in `cache`, so a stopped evaluation goes on
    from the next clip, also in a later session. The profile strips (the figure uses the first clip's)
    are kept as uint8 when `keep_strips`, dropped otherwise."""
    from backend.files import atomic_path

    def pack(value, name=""):
        if isinstance(value, dict):
            return {k: pack(v, k) for k, v in value.items() if keep_strips or not k.endswith("strip")}
        if name.endswith("strip"):
            return (value.clamp(0, 1) * 255).round().to(torch.uint8)
        return value

    Path(cache).mkdir(parents=True, exist_ok=True)
    with atomic_path(_cache_path(cache, seed)) as tmp:
        torch.save({"identity": _cache_identity(cfg, key), "result": pack(result)}, tmp)
    return _cache_path(cache, seed)


def load_clip_result(cache: Path, seed: int, cfg: NxNConfig, key: str) -> dict | None:
    """A clip's measurements kept by `save_clip_result` with these settings and networks (None if absent
    or made otherwise). Loaded with `weights_only` (tensors and plain data only)."""
    path = _cache_path(cache, seed)
    if not path.is_file():
        return None
    saved = torch.load(path, weights_only=True)
    if saved.get("identity") != _cache_identity(cfg, key):
        return None

    def unpack(value, name=""):
        if isinstance(value, dict):
            return {k: unpack(v, k) for k, v in value.items()}
        if name.endswith("strip"):
            return value.float() / 255.0
        return value

    return unpack(saved["result"])


def evaluate_nxn(lifter: Lifter, fusion: FusionNet, cfg: NxNConfig | None = None, progress: bool = True,
                 baseline: Lifter | None = None, mean_head: torch.Tensor | None = None, cache: Path | None = None,
                 cache_key: str = "") -> dict:
    """The N x N protocol over `cfg.clips` held-out clips: `{"summary", "strips", "truth_strip", "yaw_deg"}`
    (`summary` is what goes to JSON under `nxn`; the strips feed the figure). `baseline` and `mean_head`
    add the methods `lifter_v1` and `mean_head` (see `evaluate_clip`). With `cache`, each clip's
    measurements are kept there as they finish and reused when measured with the same settings and
    networks (`cache_key` names them): a long evaluation resumes where it stopped."""
    cfg = cfg or NxNConfig()
    landmarks = _Landmarks() if cfg.detail_every > 0 else None
    count = len(METHODS) + (baseline is not None) + (baseline is not None and mean_head is not None)
    bar = tqdm(total=cfg.clips * count, desc="nxn", unit="method", disable=not progress)
    per_clip, yaw = [], None
    try:
        for c in range(cfg.clips):
            seed = cfg.seed + c
            result = load_clip_result(cache, seed, cfg, cache_key) if cache is not None else None
            if result is None:
                clip = make_clip(seed, cfg)
                result = evaluate_clip(lifter, fusion, clip, cfg, landmarks, bar, baseline, mean_head)
                result["yaw_deg"] = clip["yaw_deg"]
                if cache is not None:
                    save_clip_result(cache, seed, cfg, cache_key, result, keep_strips=c == 0)
            else:
                bar.update(count)
            yaw = result["yaw_deg"]
            per_clip.append(result)
    finally:
        bar.close()
        if landmarks is not None:
            landmarks.close()
    summary = _summarize(per_clip, yaw, cfg)
    summary.update(config=asdict(cfg), clip_seeds=[cfg.seed + c for c in range(cfg.clips)],
                   views_yaw_deg=[round(float(y), 1) for y in yaw])
    return {
        "summary": summary,
        "strips": {m: per_clip[0][m]["strip"] for m in _reported(per_clip)},
        "truth_strip": per_clip[0]["truth_strip"],
        "yaw_deg": yaw,
    }


LABELS = {"mean_head": "mean head", "lifter_v1": "first lifter", "per-frame": "per-frame",
          "undistorter-only": "undistorter only", "fuser-only": "fuser only", "fused": "fused"}


def markdown_report(summary: dict) -> str:
    """The N x N summary as Markdown: one row per method, then the goals."""
    cfg = summary["config"]
    lines = [
        "# N x N evaluation (held-out synthetic clips)",
        "",
        f"{cfg['clips']} clips x {cfg['frames']} frames, N = {cfg['views']} views at yaw "
        f"{', '.join(str(y) for y in summary['views_yaw_deg'])} deg; every view is the input in turn and every "
        f"view is evaluated ({cfg['eval_size']} px renders, head over grey). Clip seeds {summary['clip_seeds']}.",
        "",
        "| method | PSNR | PSNR novel | PSNR input | PSNR occluded side | SSIM | SSIM novel | temporal variation "
        "(lower is better) | landmark NME | Chamfer (mm) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in [m for m in REPORTED if report_key(m) in summary]:
        s = summary[report_key(m)]
        lines.append(
            f"| {LABELS[m]} | {s['psnr']:.2f} | {s['psnr_novel']:.2f} | {s['psnr_input']:.2f} | "
            f"{_fmt(s['psnr_occluded'], 2)} | {s['ssim']:.3f} | {s['ssim_novel']:.3f} | "
            f"{s['temporal_variation']:.3f} | {_fmt(s['landmark_nme'], 3)} | {_fmt(s['chamfer_mm'], 2)} |"
        )
    meshes = [t for t in MESH_TEXTURES if f"mesh_{t}" in summary]
    if meshes:
        lines += ["", f"The fused meshes ({cfg['mesh_resolution']}^3 cells, {cfg['mesh_texture_size']} px textures) "
                  "rendered unlit from every view:", "",
                  "| texture | PSNR | PSNR novel | PSNR input | PSNR occluded side | SSIM novel | temporal variation |",
                  "|---|---|---|---|---|---|---|"]
        for t in meshes:
            m = summary[f"mesh_{t}"]
            lines.append(f"| {t} | {m['psnr']:.2f} | {m['psnr_novel']:.2f} | {m['psnr_input']:.2f} | "
                         f"{_fmt(m['psnr_occluded'], 2)} | {m['ssim_novel']:.3f} | {m['temporal_variation']:.3f} |")
    g, still = summary["goals"], summary["static_prior"]
    lines += [
        "",
        f"For scale, the prior shown unchanged in every frame (no flicker, every expression and lighting change "
        f"missed): PSNR {still['psnr']:.2f}, temporal variation {still['temporal_variation']:.3f}.",
        "",
        f"- fused vs per-frame, PSNR novel: {g['psnr_novel_gain_db']:+.2f} dB (goal >= +0.5: "
        f"{'met' if g['psnr_novel_gain_met'] else 'not met'})",
        f"- fused vs per-frame, temporal variation cut: {100 * g['temporal_variation_cut']:.1f} % (goal >= 25 %: "
        f"{'met' if g['temporal_variation_cut_met'] else 'not met'})",
        f"- ablations between per-frame and fused: PSNR novel {g['ablations_between_psnr_novel']}, "
        f"temporal variation {g['ablations_between_temporal_variation']}",
        f"- occluded side closer to the truth in fused than per-frame: {g['occluded_side_fused_better']}",
        "",
    ]
    return "\n".join(lines)


def _fmt(v, digits):
    return "n/a" if v is None else f"{v:.{digits}f}"


def save_figure(result: dict, path: Path) -> Path:
    """One PNG: the N x N PSNR grid of each method (top) and the profile strip of each method (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, yaw = result["summary"], [f"{y:+.0f}" for y in result["summary"]["views_yaw_deg"]]
    methods = [m for m in REPORTED if report_key(m) in summary]
    mats = [np.array(summary[report_key(m)]["psnr_matrix"]) for m in methods]
    lo, hi = min(m.min() for m in mats), max(m.max() for m in mats)
    strips = [result["truth_strip"]] + [result["strips"][m] for m in methods]
    fig = plt.figure(figsize=(3.2 * len(methods), 3.4 + 1.3 * len(strips)))
    grid = fig.add_gridspec(2, len(methods), height_ratios=[3.4, 1.3 * len(strips)])
    for k, (m, mat) in enumerate(zip(methods, mats, strict=True)):
        ax = fig.add_subplot(grid[0, k])
        im = ax.imshow(mat, vmin=lo, vmax=hi, cmap="viridis")
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                ax.text(j, i, f"{mat[i, j]:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if mat[i, j] < (lo + hi) / 2 else "black")
        ax.set_xticks(range(len(yaw)), yaw, fontsize=7)
        ax.set_yticks(range(len(yaw)), yaw, fontsize=7)
        ax.set_xlabel("evaluated view yaw (deg)", fontsize=8)
        if k == 0:
            ax.set_ylabel("input view yaw (deg)", fontsize=8)
        ax.set_title(f"{LABELS[m]}: PSNR novel {summary[report_key(m)]['psnr_novel']:.2f}", fontsize=9)
    fig.colorbar(im, ax=fig.axes[: len(methods)], shrink=0.8, label="PSNR (dB)")
    rows = [np.concatenate([f.permute(1, 2, 0).numpy() for f in s], axis=1) for s in strips]
    ax = fig.add_subplot(grid[1, :])
    ax.imshow(np.concatenate(rows, axis=0).clip(0, 1))
    r = strips[0].shape[-1]
    ax.set_yticks([r * (k + 0.5) for k in range(len(strips))], ["truth"] + [LABELS[m] for m in methods], fontsize=8)
    ax.set_xticks([])
    ax.set_title(f"frames 0..{strips[0].shape[0] - 1} seen from yaw {yaw[-1]} deg, input from the frontal view",
                 fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(result: dict, out: Path) -> tuple[Path, Path, Path]:
    """Write `{"nxn": summary}` as JSON, the Markdown table and the figure (PNG) beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"nxn": result["summary"]}, indent=2) + "\n")
    md = out.with_suffix(".md")
    md.write_text(markdown_report(result["summary"]))
    return out, md, save_figure(result, out.with_suffix(".png"))
