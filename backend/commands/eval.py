"""`headfuse eval`: reports on held-out synthetic data (JSON + Markdown, a figure for N x N)."""

import argparse
from pathlib import Path

NAME = "eval"
HELP = "evaluate trained networks on held-out synthetic identities (JSON and Markdown reports)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        default=None,
        choices=["nxn"],
        help="nxn: reconstruct held-out clips from each of N views and evaluate on every view (all four methods)",
    )
    parser.add_argument("--stage", default="encoder", choices=["encoder"], help="what to evaluate (no --protocol)")
    parser.add_argument("--weights", type=Path, default=None, help="lifter checkpoint (default: the shipped tiny one)")
    parser.add_argument(
        "--fusion-weights", type=Path, default=None, help="nxn: fusion checkpoint (default: the shipped tiny one)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("runs/encoder-tiny/samples"),
        help="training sample cache (for the mean-head baseline)",
    )
    parser.add_argument("--heads", type=int, default=24, help="held-out identities")
    parser.add_argument("--clips", type=int, default=None, help="nxn: held-out clips (default 3)")
    parser.add_argument("--frames", type=int, default=None, help="nxn: frames per clip (default 8)")
    parser.add_argument("--views", type=int, default=None, help="nxn: N, views from -60 to +60 deg yaw (default 5)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON report, Markdown (and PNG figure) beside (default out/eval_encoder.json or "
                             "out/eval_nxn.json)")


def run(args) -> int:
    from backend.models.fusion import load_fusion
    from backend.models.lifter import load_lifter

    try:
        model = load_lifter(args.weights)
        fusion = load_fusion(args.fusion_weights) if args.protocol == "nxn" else None
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"eval: {exc}") from None
    if args.protocol == "nxn":
        return _nxn(args, model, fusion)
    from backend.eval.encoder_report import EncoderEvalConfig, evaluate_encoder, markdown_report, write_report

    result = evaluate_encoder(model, args.data, EncoderEvalConfig(heads=args.heads))
    js, md = write_report(result, args.out or Path("out/eval_encoder.json"))
    print(markdown_report(result))
    print(f"eval: wrote {js} and {md}")
    return 0


def _nxn(args, lifter, fusion) -> int:
    from backend.eval.nxn import NxNConfig, evaluate_nxn, markdown_report, write_report

    cfg = NxNConfig()
    for key in ("clips", "frames", "views"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if cfg.views < 2:
        raise SystemExit("eval: --views must be at least 2 (the N x N protocol needs novel views)")
    result = evaluate_nxn(lifter, fusion, cfg)
    js, md, png = write_report(result, args.out or Path("out/eval_nxn.json"))
    print(markdown_report(result["summary"]))
    print(f"eval: wrote {js}, {md} and {png}")
    return 0
