"""Stage 1: train the lifter (encoder + decoder MLP) on cached synthetic samples.

Seeded and exactly resumable: the batch of step i depends only on (seed, i), and the checkpoint
holds model, optimizer and RNG state. Progress shows loss and ETA; every logged step is a JSON
line in `train.log`.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from backend.checkpoint import load_checkpoint
from backend.config import EncoderConfig, RenderConfig, config_from_dict, config_to_dict, encoder_preset
from backend.models.lifter import Lifter
from backend.models.weights import load_lifter
from backend.train.loop import run_history, train_loop
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

    `init`: a lifter checkpoint to start from (`Lifter.init_from`: the same preset, a global one as a
    pixel lifter's global branch, or a single-level pixel one for a two-level one); ignored when
    resuming. With `cfg.stream_rate`, samples are read as a generator makes them (`SampleCache` window)."""
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
        model.init_from(load_lifter(init))
    init_entry = {"init": str(init)} if state is None and init is not None else {}
    history = run_history(state, **init_entry)
    record = {
        "encoder_config": config_to_dict(enc_cfg),
        "train_config": config_to_dict(cfg),
        "stage": "encoder",
        "data_dir": str(data_dir),
        "commit": history[0]["commit"],
        "command": history[0]["command"],
        "history": history,
    }

    def make_batch(step: int) -> dict:
        return data.batch(step, cfg.batch, cfg.points, cfg.render_views, cfg.render_res, cfg.seed, enc_cfg.image_size)

    return train_loop(
        out_dir, model, cfg, make_batch, lambda batch, gen: lifter_step(model, batch, cfg, gen), record, state,
        "lifter.pt", "encoder", "render_rgb", cfg.max_minutes, progress,
    )  # fmt: skip
