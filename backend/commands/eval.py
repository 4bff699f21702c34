"""`headfuse eval`: reports on held-out synthetic data (JSON + Markdown)."""

import argparse
from pathlib import Path

NAME = "eval"
HELP = "evaluate trained networks on held-out synthetic identities (JSON and Markdown reports)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stage", default="encoder", choices=["encoder"], help="what to evaluate")
    parser.add_argument("--weights", type=Path, default=None, help="lifter checkpoint (default: the shipped tiny one)")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("runs/encoder-tiny/samples"),
        help="training sample cache (for the mean-head baseline)",
    )
    parser.add_argument("--heads", type=int, default=24, help="held-out identities")
    parser.add_argument("--out", type=Path, default=Path("out/eval_encoder.json"), help="JSON report (Markdown beside)")


def run(args) -> int:
    from backend.eval.encoder_report import EncoderEvalConfig, evaluate_encoder, markdown_report, write_report
    from backend.models.lifter import load_lifter

    model = load_lifter(args.weights)
    result = evaluate_encoder(model, args.data, EncoderEvalConfig(heads=args.heads))
    js, md = write_report(result, args.out)
    print(markdown_report(result))
    print(f"eval: wrote {js} and {md}")
    return 0
