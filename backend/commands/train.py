"""`headfuse train`: train the networks on synthetic data (seeded, resumable)."""

import argparse
from pathlib import Path

NAME = "train"
HELP = "train a stage on synthetic data (resumable: run the same command again to continue)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        required=True,
        choices=["encoder", "fusion"],
        help="encoder: the lifter (stage 1); fusion: undistorter + visibility + fuser, lifter frozen (stage 2)",
    )
    parser.add_argument("--config", default="tiny", choices=["tiny", "paper"], help="model size preset")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/STAGE-CONFIG)")
    parser.add_argument("--data", type=Path, default=None, help="cache folder (default OUT/samples or OUT/clips)")
    parser.add_argument("--samples", type=int, default=None,
                        help="cached synthetic training samples (encoder, default 1500) or clips (fusion, default 240)")
    parser.add_argument("--workers", type=int, default=2, help="processes that make the cache")
    parser.add_argument("--lifter", type=Path, default=None,
                        help="fusion stage: the frozen lifter (default: the shipped tiny weights)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default from the stage config)")
    parser.add_argument("--batch", type=int, default=None, help="samples (encoder) or clips (fusion) per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and batch order")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    parser.add_argument("--init", type=Path, default=None,
                        help="fusion stage: start from these fusion weights (fine-tune) instead of from scratch")
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
    from backend.config import encoder_preset
    from backend.train.encoder_stage import EncoderTrainConfig, train_encoder
    from backend.train.sample_cache import build_cache

    data = args.data or out / "samples"
    cfg = EncoderTrainConfig(seed=args.seed)
    if args.steps is not None:
        cfg.steps = args.steps
    if args.batch is not None:
        cfg.batch = args.batch
    if args.lr is not None:
        cfg.lr = args.lr
    if args.warmup is not None:
        cfg.warmup = args.warmup
    if args.init is not None:
        raise SystemExit("train: --init is for --stage fusion (the encoder stage resumes from its checkpoint)")
    enc = encoder_preset(args.config)
    # Training identities are seeds 0..samples-1 offset by the run seed; evaluation uses seeds >= 1_000_000.
    build_cache(data, args.samples or 1500, seed=args.seed, image_size=enc.image_size,
                progress=not args.no_progress, workers=args.workers)
    return train_encoder(out, data, args.config, cfg, resume=not args.fresh, progress=not args.no_progress)


def _train_fusion(args, out: Path) -> Path:
    from backend.checkpoint import load_checkpoint
    from backend.models.lifter import default_lifter_path
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
