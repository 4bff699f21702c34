"""Stage 2: train the undistorter, the visibility head and the fuser on cached clips (lifter frozen).

Per clip window of T frames the networks run frame by frame exactly as in reconstruction (the
recurrent state is carried, gradients flow back through the whole window). Losses per frame:

- `undist`: L1(T_undist, T_frontalGT), the pseudo ground truth E(frontal render of the frame);
- `vis`: L1 of the predicted visibility triplanes (frame and prior) against the synthetic truth;
- `fusion`: L1(T_fused, T_frontalGT), weighted up (1 + `w_occluded`) where the frame cannot see;
- `render`: L1 of RGB and opacity of the fused field rendered from other cameras (random rays);
- `structure`: 1 - SSIM of a whole novel view of the fused field (one random frame per clip);
- `temporal`: the frame-to-frame change of those novel-view pixels against the truth's own change
  (every frame of a window renders the same rays with the same samples, so only the field differs);
- `density` / `colour`: the fused field against the synthetic field at sampled 3D points.

Seeded and exactly resumable like stage 1: the batch of step i depends only on (seed, i). A run
can start from earlier fusion weights (`init`, fine-tuning) instead of from scratch.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from backend.checkpoint import file_sha256, load_checkpoint
from backend.config import FusionConfig, RenderConfig, config_from_dict, config_to_dict, fusion_preset
from backend.metrics import ssim
from backend.models.fusion import FusionNet
from backend.models.lifter import Lifter
from backend.models.weights import load_lifter
from backend.render.rays import generate_rays
from backend.render.renderer import render_rays
from backend.train.fusion_cache import ClipCache
from backend.train.loop import run_history, train_loop
from backend.train.losses import colour_loss, density_loss, render_losses, temporal_change_loss


@dataclass
class FusionTrainConfig:
    """Stage-2 training of the undistorter, visibility head and fuser."""

    steps: int = 1000
    """Optimizer steps."""
    batch: int = 4
    """Clips per step."""
    frames: int = 5
    """Frames per clip window (the recurrence is unrolled over them)."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 5%)."""
    warmup: int = 50
    """Warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    w_undist: float = 1.0
    """Weight of L1(T_undist, T_frontalGT)."""
    w_vis: float = 0.5
    """Weight of the visibility L1."""
    w_fusion: float = 1.0
    """Weight of L1(T_fused, T_frontalGT)."""
    w_occluded: float = 2.0
    """Extra weight of the fusion L1 where the frame cannot see (weight 1 + w_occluded * (1 - vis))."""
    w_render: float = 1.0
    """Weight of the novel-view render L1 (RGB; opacity at half)."""
    w_structure: float = 0.2
    """Weight of 1 - SSIM on one whole novel view per clip."""
    w_3d: float = 0.5
    """Weight of the 3D density and colour losses of the fused field."""
    w_temporal: float = 2.0
    """Weight of the temporal-consistency L1 (novel-view change from frame to frame vs the truth's)."""
    points: int = 512
    """3D supervision points per frame."""
    rays_per_view: int = 96
    """Random pixels of each novel view rendered per frame for the render loss."""
    structure_res: int = 32
    """Side of the whole novel view rendered for the structural loss."""
    n_coarse: int = 24
    """Stratified samples per ray in the render losses."""
    n_fine: int = 16
    """Importance samples per ray in the render losses."""
    checkpoint_every: int = 100
    """Steps between checkpoints."""
    log_every: int = 10
    """Steps between log lines."""
    seed: int = 0
    """Seeds initialisation, batch order and sampling."""


def _pool_to(planes: torch.Tensor, size: int) -> torch.Tensor:
    """`[B, 3, C, P, P]` -> `[B, 3, C, size, size]` by area averaging."""
    B, _, C, P, _ = planes.shape
    return F.adaptive_avg_pool2d(planes.reshape(B * 3, C, P, P), size).reshape(B, 3, C, size, size)


def _up_to(planes: torch.Tensor, size: int) -> torch.Tensor:
    B, _, C, V, _ = planes.shape
    out = F.interpolate(planes.reshape(B * 3, C, V, V), size=(size, size), mode="bilinear", align_corners=False)
    return out.reshape(B, 3, C, size, size)


def fusion_step(net: FusionNet, lifter: Lifter, batch: dict, cfg: FusionTrainConfig, gen: torch.Generator) -> dict:
    """Losses of one batch (see `ClipCache.batch` for its keys); `total` is what to minimise."""
    B, T = batch["raw"].shape[:2]
    P, V = net.cfg.plane_size, net.cfg.visibility_size
    rcfg = RenderConfig(n_coarse=cfg.n_coarse, n_fine=cfg.n_fine, perturb=True, chunk_rays=1 << 20)
    state = net.start(batch["prior"])
    sums = dict.fromkeys(("undist", "vis", "fusion", "render_rgb", "render_mask", "density", "colour"), 0.0)
    sums["vis"] = F.l1_loss(_pool_to(state.prior_visibility, V), batch["reference_visibility"]) * T
    structure_t = torch.randint(0, T, (B,), generator=gen)
    structure = []
    render_seed = int(torch.randint(0, 2**62, (1,), generator=gen))  # the same rays and samples in every frame
    novel_pred, novel_truth = [], []
    for t in range(T):
        out, state = net.step(batch["raw"][:, t], state)
        target = batch["target"][:, t]
        vis_gt = batch["visibility"][:, t]  # [B, 3, 1, V, V]
        sums["undist"] = sums["undist"] + F.l1_loss(out["undist"], target)
        sums["vis"] = sums["vis"] + F.l1_loss(_pool_to(out["vis_undist"], V), vis_gt)
        weight = 1.0 + cfg.w_occluded * (1.0 - _up_to(vis_gt, P))  # [B, 3, 1, P, P]
        sums["fusion"] = sums["fusion"] + ((out["fused"] - target).abs() * weight).mean() / weight.mean()
        field = lifter.field(out["fused"])
        density, feats = field(batch["points"][:, t])
        sums["density"] = sums["density"] + density_loss(density, batch["density"][:, t])
        sums["colour"] = sums["colour"] + colour_loss(
            feats[..., :3], batch["colour"][:, t], (batch["density"][:, t] > 1.0).float()
        )
        r = render_losses(field, batch["novel_c2w"], batch["novel_K"], batch["novel_rgb"][:, t],
                          batch["novel_mask"][:, t], torch.zeros(B, 3), rcfg, cfg.rays_per_view,
                          torch.Generator().manual_seed(render_seed))
        novel_pred.append(r["rgb"])
        novel_truth.append(r["target"])
        sums["render_rgb"] = sums["render_rgb"] + r["render_rgb"]
        sums["render_mask"] = sums["render_mask"] + r["render_mask"]
        for b in (structure_t == t).nonzero()[:, 0].tolist():
            structure.append(_structure_loss(lifter, out["fused"][b : b + 1], batch, b, t, cfg, rcfg, gen))
    losses = {k: v / T for k, v in sums.items()}
    losses["structure"] = torch.stack(structure).mean()
    losses["temporal"] = temporal_change_loss(torch.stack(novel_pred, 1), torch.stack(novel_truth, 1))
    losses["total"] = (
        cfg.w_undist * losses["undist"]
        + cfg.w_vis * losses["vis"]
        + cfg.w_fusion * losses["fusion"]
        + cfg.w_render * (losses["render_rgb"] + 0.5 * losses["render_mask"])
        + cfg.w_structure * losses["structure"]
        + cfg.w_3d * (losses["density"] + losses["colour"])
        + cfg.w_temporal * losses["temporal"]
    )
    return losses


def _structure_loss(lifter, planes, batch, b, t, cfg, rcfg, gen) -> torch.Tensor:
    """1 - SSIM of one whole novel view (a random one of the clip's) of fused planes `[1, 3, C, P, P]`."""
    n = int(torch.randint(0, batch["novel_c2w"].shape[1], (1,), generator=gen))
    r = cfg.structure_res
    origins, dirs = generate_rays(batch["novel_c2w"][b, n][None], batch["novel_K"][b, n][None], r)
    out = render_rays(lifter.field(planes), origins, dirs, rcfg, gen)
    pred = out["features"][0, :, :3].T.reshape(1, 3, r, r)
    target = F.interpolate(batch["novel_rgb"][b, t, n][None], size=(r, r), mode="area")
    return 1.0 - ssim(pred, target).mean()


def train_fusion(
    out_dir: Path,
    data_dir: Path,
    lifter_path: Path,
    config: str = "tiny",
    train_cfg: FusionTrainConfig | None = None,
    resume: bool = True,
    progress: bool = True,
    init: Path | None = None,
) -> Path:
    """Train (or resume) stage 2 with the lifter at `lifter_path` frozen; returns `out_dir/fusion.pt`.

    `init`: fusion weights (trained on the same lifter) to start from instead of a fresh
    initialisation; their config is kept and their history is carried into the new record. Ignored
    when resuming (the checkpoint already holds the run's start).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    lifter_sha = file_sha256(lifter_path)
    data = ClipCache(data_dir, lifter_sha)
    lifter = load_lifter(lifter_path)
    for p in lifter.parameters():
        p.requires_grad_(False)
    state = load_checkpoint(ckpt_path) if resume and ckpt_path.exists() else None
    if state is not None:
        fcfg = config_from_dict(FusionConfig, state["fusion_config"])
        cfg = config_from_dict(FusionTrainConfig, state["train_config"])
        if train_cfg is not None and train_cfg.steps != cfg.steps:
            cfg.steps = train_cfg.steps  # extending a run is allowed; everything else comes from the checkpoint
        if state["lifter_sha256"] != lifter_sha:
            raise ValueError(f"{ckpt_path} was trained with another lifter; start over with --fresh")
    else:
        fcfg, cfg = fusion_preset(config), train_cfg or FusionTrainConfig()
        fcfg.plane_channels, fcfg.plane_size = lifter.cfg.plane_channels, lifter.cfg.plane_size
    start_from = load_checkpoint(init) if init is not None and state is None else None
    if start_from is not None:
        if start_from.get("stage") != "fusion" or start_from["lifter_sha256"] != lifter_sha:
            raise ValueError(f"--init {init}: not fusion weights trained on the lifter {lifter_path}")
        fcfg = config_from_dict(FusionConfig, start_from["fusion_config"])
    torch.manual_seed(cfg.seed)
    net = FusionNet(fcfg)
    if start_from is not None:
        net.load_state_dict(start_from["model"])
    earlier = [{**h, "run": "init"} for h in start_from.get("history", [])] if start_from is not None else None
    init_entry = {}
    if start_from is not None:
        init_entry = {"init": str(init), "init_sha256": file_sha256(init), "init_steps": int(start_from["step"])}
    history = run_history(state, earlier, **init_entry)
    first = next(h for h in history if h.get("run") != "init")  # this run's first command
    record = {
        "fusion_config": config_to_dict(fcfg),
        "train_config": config_to_dict(cfg),
        "stage": "fusion",
        "data_dir": str(data_dir),
        "commit": first["commit"],
        "command": first["command"],
        "history": history,
        "lifter_sha256": lifter_sha,
        "lifter": str(lifter_path),
    }
    return train_loop(
        out_dir, net, cfg, lambda step: data.batch(step, cfg.batch, cfg.frames, cfg.points, cfg.seed),
        lambda batch, gen: fusion_step(net, lifter, batch, cfg, gen), record, state, "fusion.pt", "fusion", "fusion",
        0.0, progress,
    )  # fmt: skip
