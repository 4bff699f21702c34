"""`headfuse train`: train the networks on synthetic data (seeded, resumable)."""

import argparse
from pathlib import Path

from backend.config import ENCODER_PRESETS

NAME = "train"
HELP = "train a stage on synthetic data (resumable: run the same command again to continue)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        required=True,
        choices=["encoder", "fusion"],
        help="encoder: the lifter (stage 1); fusion: undistorter + visibility + fuser, lifter frozen (stage 2)",
    )
    parser.add_argument("--config", default="tiny", choices=ENCODER_PRESETS,
                        help="model preset (pixel: the pixel-aligned, face-mesh-conditioned lifter, needs --tracked; "
                             "pyramid: pixel with a second, finer lifted level)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/STAGE-CONFIG)")
    parser.add_argument("--data", type=Path, default=None, help="cache folder (default OUT/samples or OUT/clips)")
    parser.add_argument("--samples", type=int, default=None,
                        help="cached synthetic training samples (encoder, default 1500) or clips (fusion, default 240)")
    parser.add_argument("--workers", type=int, default=2, help="processes that make the cache")
    parser.add_argument("--lifter", type=Path, default=None,
                        help="fusion stage: the frozen lifter (default: the shipped lifter of --config)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default from the stage config)")
    parser.add_argument("--batch", type=int, default=None, help="samples (encoder) or clips (fusion) per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and batch order")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights instead of from scratch: fusion weights (fusion stage) or a "
                             "lifter (encoder stage; a pixel lifter takes a global one as its global branch, a "
                             "pyramid one a single-level pixel one)")
    parser.add_argument("--tracked", action="store_true",
                        help="encoder: make samples as at test time (a rendered plate through MediaPipe and "
                             "the pose solve)")
    parser.add_argument("--view-res", type=int, default=None, help="encoder: side of the stored supervision views")
    parser.add_argument("--render-res", type=int, default=None, help="encoder: side the render loss works at")
    parser.add_argument("--stream-rate", type=float, default=None,
                        help="encoder: a generator makes this many samples per step while training runs")
    parser.add_argument("--stream-start", type=int, default=None, help="encoder, streaming: samples made before step 0")
    parser.add_argument("--stream-window", type=int, default=None,
                        help="encoder, streaming: each step draws from the newest this many samples")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="encoder: stop resumably after this many minutes of training")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the training process")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default from the stage config)")
    parser.add_argument("--warmup", type=int, default=None, help="learning-rate warm-up steps")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to train.log)")


def run(args) -> int:
    from backend.train.record import write_training_record

    out = args.out or Path(f"runs/{args.stage}-{args.config}")
    final = _train_encoder(args, out) if args.stage == "encoder" else _train_fusion(args, out)
    record = write_training_record(out, final.name)
    print(f"train: wrote {final} and {record}")
    return 0


def _train_encoder(args, out: Path) -> Path:
    import signal
    import sys

    import torch

    from backend.config import encoder_preset
    from backend.train.encoder_stage import EncoderTrainConfig, train_encoder
    from backend.train.sample_cache import build_cache

    data = args.data or out / "samples"
    cfg = EncoderTrainConfig(seed=args.seed)
    for flag, field in (
        ("steps", "steps"),
        ("batch", "batch"),
        ("lr", "lr"),
        ("warmup", "warmup"),
        ("samples", "samples"),
        ("view_res", "sample_view_res"),
        ("render_res", "render_res"),
        ("stream_rate", "stream_rate"),
        ("stream_start", "stream_start"),
        ("stream_window", "stream_window"),
        ("max_minutes", "max_minutes"),
    ):
        if getattr(args, flag) is not None:
            setattr(cfg, field, getattr(args, flag))
    cfg.tracked = args.tracked
    enc = encoder_preset(args.config)
    if enc.kind == "pixel" and not cfg.tracked:
        raise SystemExit(f"train: --config {args.config} needs --tracked samples (its inputs come from the face "
                         "preprocessor)")
    if args.threads:
        torch.set_num_threads(args.threads)
    # Training identities are seeds 0..samples-1 offset by the run seed; evaluation uses seeds >= 1_000_000.
    make = dict(seed=args.seed, image_size=enc.image_size, view_res=cfg.sample_view_res, tracked=cfg.tracked)
    if cfg.stream_rate <= 0:
        build_cache(data, cfg.samples, progress=not args.no_progress, workers=args.workers, **make)
        return train_encoder(out, data, args.config, cfg, resume=not args.fresh, progress=not args.no_progress,
                             init=args.init)
    generator = _start_generator(out, data, cfg, make, resume=not args.fresh)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run stops its generator too (finally)
    try:
        return train_encoder(out, data, args.config, cfg, resume=not args.fresh, progress=not args.no_progress,
                             init=args.init)
    finally:
        generator.terminate()
        generator.join()


def _start_generator(out: Path, data: Path, cfg, make: dict, resume: bool):
    """A process that makes the stream's samples in index order, from the window of the step the run
    resumes at (what earlier sessions made need not be on this machine)."""
    import multiprocessing as mp

    from backend.checkpoint import load_checkpoint
    from backend.train.sample_cache import build_cache

    ckpt = out / "checkpoint.pt"
    step = int(load_checkpoint(ckpt)["step"]) if resume and ckpt.exists() else 0
    first = max(0, min(cfg.samples, cfg.stream_start + int(cfg.stream_rate * step)) - cfg.stream_window)
    process = mp.get_context("spawn").Process(
        target=build_cache,
        args=(data, cfg.samples),
        kwargs=dict(make, progress=False, workers=1, start=first, threads=1),
        daemon=True,
    )
    process.start()
    return process


def _train_fusion(args, out: Path) -> Path:
    from backend.checkpoint import load_checkpoint
    from backend.models.weights import default_lifter_path
    from backend.train.fusion_cache import build_clip_cache
    from backend.train.fusion_stage import FusionTrainConfig, train_fusion

    lifter = args.lifter or default_lifter_path(args.config)
    data = args.data or out / "clips"
    cfg = FusionTrainConfig(seed=args.seed)
    if args.steps is not None:
        cfg.steps = args.steps
    if args.batch is not None:
        cfg.batch = args.batch
    if args.lr is not None:
        cfg.lr = args.lr
    if args.warmup is not None:
        cfg.warmup = args.warmup
    if args.init is not None:  # read now, not after the clip cache is made
        try:
            load_checkpoint(args.init)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"train: --init: {exc}") from None
    # Clip identities are FUSION_SEED_BASE + seed * 100_003 + i; evaluation uses seeds >= 1_000_000.
    build_clip_cache(data, args.samples or 240, seed=args.seed, lifter_path=lifter, progress=not args.no_progress,
                     workers=args.workers)
    return train_fusion(out, data, lifter, args.config, cfg, resume=not args.fresh, progress=not args.no_progress,
                        init=args.init)
