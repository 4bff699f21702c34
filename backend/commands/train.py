"""`headfuse train`: train the networks on synthetic data (seeded, resumable)."""

import argparse
from pathlib import Path

NAME = "train"
HELP = "train a stage on synthetic data (resumable: run the same command again to continue)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", required=True, choices=["encoder"], help="which networks to train")
    parser.add_argument("--config", default="tiny", choices=["tiny", "paper"], help="model size preset")
    parser.add_argument("--out", type=Path, default=Path("runs/encoder-tiny"), help="run folder (checkpoints, log)")
    parser.add_argument("--data", type=Path, default=None, help="sample cache folder (default: OUT/samples)")
    parser.add_argument("--samples", type=int, default=1500, help="cached synthetic training samples to make/use")
    parser.add_argument("--workers", type=int, default=2, help="processes that make the sample cache")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default from the stage config)")
    parser.add_argument("--batch", type=int, default=None, help="samples per step")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, initialisation and batch order")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to train.log)")


def run(args) -> int:
    from backend.config import encoder_preset
    from backend.train.encoder_stage import EncoderTrainConfig, train_encoder
    from backend.train.record import write_training_record
    from backend.train.sample_cache import build_cache

    data = args.data or args.out / "samples"
    cfg = EncoderTrainConfig(seed=args.seed)
    if args.steps is not None:
        cfg.steps = args.steps
    if args.batch is not None:
        cfg.batch = args.batch
    enc = encoder_preset(args.config)
    # Training identities are seeds 0..samples-1 offset by the run seed; evaluation uses seeds >= 1_000_000.
    build_cache(data, args.samples, seed=args.seed, image_size=enc.image_size, progress=not args.no_progress,
                workers=args.workers)
    final = train_encoder(args.out, data, args.config, cfg, resume=not args.fresh, progress=not args.no_progress)
    record = write_training_record(args.out)
    print(f"train: wrote {final} and {record}")
    return 0
