"""Stage 1: train the lifter (encoder + decoder MLP) on cached synthetic samples.

Seeded and exactly resumable: the batch of step i depends only on (seed, i), and the checkpoint
holds model, optimizer and RNG state. Progress shows loss and ETA; every logged step is a JSON
line in `train.log`.
"""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from backend.checkpoint import command_line, git_commit, load_checkpoint, save_checkpoint
from backend.config import EncoderConfig, RenderConfig, config_from_dict, config_to_dict, encoder_preset
from backend.models.lifter import Lifter
from backend.models.weights import load_lifter
from backend.train.losses import colour_loss, density_loss, render_losses
from backend.train.sample_cache import SampleCache


@dataclass
class EncoderTrainConfig:
    """Stage-1 training of the lifter."""

    steps: int = 3000
    """Optimizer steps."""
    batch: int = 8
    """Samples per step."""
    lr: float = 1e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 5%)."""
    warmup: int = 100
    """Warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    points: int = 4096
    """3D supervision points per sample per step (drawn from the cached ones)."""
    render_views: int = 2
    """Views rendered per sample per step for the render loss (the input view is always one)."""
    render_res: int = 32
    """Side of the supervision views in pixels."""
    rays_per_view: int = 256
    """Random pixels of each supervision view rendered per step."""
    n_coarse: int = 24
    """Stratified samples per ray in the render loss."""
    n_fine: int = 16
    """Importance samples per ray in the render loss."""
    w_render_rgb: float = 1.0
    """Weight of the L1 on rendered RGB."""
    w_render_mask: float = 0.5
    """Weight of the L1 on rendered opacity vs the mask."""
    w_density: float = 1.0
    """Weight of the 3D density loss."""
    w_colour: float = 1.0
    """Weight of the 3D colour loss."""
    samples: int = 1500
    """Training samples (identities) in the cache."""
    tracked: bool = False
    """Samples as at test time: the crop, its solved camera and its face mesh come from MediaPipe and the
    pose solve on a rendered plate (a pixel lifter needs them); False renders the crop from the canonical
    camera (how the first lifter was trained)."""
    sample_view_res: int = 32
    """Side of the supervision views stored in each sample (`render_res` is resampled from it)."""
    stream_rate: float = 0.0
    """Samples a generator adds per step while training runs (0: the whole cache is made first)."""
    stream_start: int = 0
    """Streaming: samples there are at step 0."""
    stream_window: int = 3000
    """Streaming: each step draws from the newest this many samples."""
    max_minutes: float = 0.0
    """Stop (resumably) after this much training wall time in this invocation (0: no limit)."""
    checkpoint_every: int = 200
    """Steps between checkpoints."""
    log_every: int = 10
    """Steps between log lines."""
    seed: int = 0
    """Seeds initialisation, batch order and sampling."""


def stream_window(cfg: EncoderTrainConfig) -> tuple[int, float, int] | None:
    """The `SampleCache` window of a streaming run, None otherwise."""
    return (cfg.stream_start, cfg.stream_rate, cfg.stream_window) if cfg.stream_rate > 0 else None


def _lr(step: int, cfg: EncoderTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def lifter_step(model: Lifter, batch: dict, cfg: EncoderTrainConfig, generator: torch.Generator) -> dict:
    """Losses of one batch (see `SampleCache.batch` for its keys); `total` is what to minimise."""
    planes = model(batch["image"], batch.get("geometry"), batch.get("cam2world"), batch.get("intrinsics"))
    field = model.field(planes)
    density, feats = field(batch["points"])
    losses = {
        "density": density_loss(density, batch["density"]),
        "colour": colour_loss(feats[..., :3], batch["colour"], (batch["density"] > 1.0).float()),
    }
    rcfg = RenderConfig(n_coarse=cfg.n_coarse, n_fine=cfg.n_fine, perturb=True, chunk_rays=1 << 20)
    r = render_losses(
        field,
        batch["view_c2w"],
        batch["view_K"],
        batch["view_rgb"],
        batch["view_mask"],
        batch["background"],
        rcfg,
        cfg.rays_per_view,
        generator,
    )
    losses["render_rgb"], losses["render_mask"] = r["render_rgb"], r["render_mask"]
    losses["total"] = (
        cfg.w_density * losses["density"]
        + cfg.w_colour * losses["colour"]
        + cfg.w_render_rgb * losses["render_rgb"]
        + cfg.w_render_mask * losses["render_mask"]
    )
    return losses


def train_encoder(
    out_dir: Path,
    data_dir: Path,
    config: str = "tiny",
    train_cfg: EncoderTrainConfig | None = None,
    resume: bool = True,
    progress: bool = True,
    init: Path | None = None,
) -> Path:
    """Train (or resume) the lifter; returns the path of the final checkpoint `out_dir/lifter.pt`.

    `init`: a lifter checkpoint to start from (a pixel lifter takes a global one's weights as its
    global branch, `Lifter.init_from_global`); ignored when resuming. With `cfg.stream_rate`, samples are
    read as a generator makes them (`SampleCache` window)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    state = load_checkpoint(ckpt_path) if resume and ckpt_path.exists() else None
    if state is not None:
        enc_cfg = config_from_dict(EncoderConfig, state["encoder_config"])
        cfg = config_from_dict(EncoderTrainConfig, state["train_config"])
        if train_cfg is not None:  # extending or cutting a run is allowed; everything else is the checkpoint's
            cfg.steps, cfg.max_minutes = train_cfg.steps, train_cfg.max_minutes
    else:
        enc_cfg, cfg = encoder_preset(config), train_cfg or EncoderTrainConfig()
    data = SampleCache(data_dir, stream_window(cfg), cfg.samples)
    torch.manual_seed(cfg.seed)
    model = Lifter(enc_cfg)
    if state is None and init is not None:
        start_from = load_lifter(init)
        if model.needs_geometry and not start_from.needs_geometry:
            model.init_from_global(start_from)
        else:
            model.load_state_dict(start_from.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start, wall = 0, 0.0
    # Every invocation that trained this run: command, commit and the step it started from.
    history = []
    if state is not None:
        history = list(state.get("history", [{"command": state["command"], "commit": state["commit"], "from_step": 0}]))
    history.append(
        {"command": command_line(), "commit": git_commit(), "from_step": 0 if state is None else int(state["step"])}
    )
    if state is None and init is not None:
        history[-1]["init"] = str(init)
    provenance = {"commit": history[0]["commit"], "command": history[0]["command"], "history": history}
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start, wall = int(state["step"]), float(state["wall_s"])
    log = (out_dir / "train.log").open("a")
    timing = {"data_s": 0.0, "step_s": 0.0}

    def checkpoint(step: int) -> None:
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
                "wall_s": wall,
                "encoder_config": config_to_dict(enc_cfg),
                "train_config": config_to_dict(cfg),
                "stage": "encoder",
                "data_dir": str(data_dir),
                "data_to_step_time": timing["data_s"] / max(timing["step_s"], 1e-9),
                **provenance,
            },
        )

    bar = tqdm(
        range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress, desc="encoder", unit="step"
    )
    model.train()
    began = time.perf_counter()
    stopped_at = None
    for step in bar:
        if cfg.max_minutes and time.perf_counter() - began > 60 * cfg.max_minutes:
            stopped_at = step
            break
        t0 = time.perf_counter()
        batch = data.batch(step, cfg.batch, cfg.points, cfg.render_views, cfg.render_res, cfg.seed, enc_cfg.image_size)
        t1 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = _lr(step, cfg)
        generator = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # sampling depends on (seed, step) only
        losses = lifter_step(model, batch, cfg, generator)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t2 = time.perf_counter()
        timing["data_s"] += t1 - t0
        timing["step_s"] += t2 - t1
        wall += t2 - t0
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            row = {k: round(v.item(), 5) for k, v in losses.items()}
            row.update(step=step, lr=_lr(step, cfg), wall_s=round(wall, 1))
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{row['total']:.4f}", rgb=f"{row['render_rgb']:.3f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step == cfg.steps - 1:
            checkpoint(step + 1)
    log.close()
    if stopped_at is not None:
        checkpoint(stopped_at)
    elif start >= cfg.steps and not ckpt_path.exists():
        checkpoint(cfg.steps)
    done = stopped_at if stopped_at is not None else max(start, cfg.steps)
    final = out_dir / "lifter.pt"
    save_checkpoint(
        final,
        {
            "model": model.state_dict(),
            "encoder_config": config_to_dict(enc_cfg),
            "train_config": config_to_dict(cfg),
            "step": done,
            "wall_s": wall,
            "stage": "encoder",
            "data_to_step_time": load_checkpoint(ckpt_path).get("data_to_step_time", 0.0),
            **provenance,
        },
    )
    return final
