"""`headfuse eval`: reports on held-out synthetic data (JSON + Markdown, a figure for N x N)."""

import argparse
from pathlib import Path

from headfuse_wire.options import MODES, TEXTURE_MODES

NAME = "eval"
HELP = "evaluate trained networks on held-out synthetic identities, or on real footage (JSON and Markdown reports)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        default=None,
        choices=["nxn", "lifters", "real", "identity", "shots", "planefit"],
        help="nxn: reconstruct held-out clips from each of N views and evaluate on every view (all four methods); "
             "lifters: the --lifter checkpoints side by side on held-out samples made as at test time; "
             "real: reconstruct VIDEO against --ref and judge renders of the textured meshes with a face "
             "detector and a face recognizer (no ground truth); identity: the ROC of the face identity "
             "distance on real photographs and synthetic heads, and the tracker's threshold from it; shots: "
             "the edited two-person clip reconstructed, who was meshed against the truth; planefit: the "
             "--weights lifter's planes against planes fitted to the held-out views (its decoder frozen)",
    )
    parser.add_argument("video", nargs="?", type=Path, default=None,
                        help="real: the footage (video, image, folder; none: the real portraits and clips that ship "
                             "with the dependencies, into the folder named by --out)")
    parser.add_argument("--ref", type=Path, default=None, help="real: near-frontal reference image of the person")
    parser.add_argument("--texture", default="projected", choices=TEXTURE_MODES, help="real: how meshes are textured")
    parser.add_argument("--mode", default="fused", choices=MODES, help="real: the method, or the lifter alone")
    parser.add_argument("--lifter", action="append", default=[], metavar="NAME=PATH",
                        help="lifters: a checkpoint to compare under a name (repeat; the first global one gives the "
                             "mean head)")
    parser.add_argument("--heldout", type=Path, default=Path("runs/heldout-tracked"),
                        help="lifters, planefit: folder of the held-out samples (made there if missing)")
    parser.add_argument("--stage", default="encoder", choices=["encoder"], help="what to evaluate (no --protocol)")
    parser.add_argument("--weights", type=Path, default=None, help="lifter checkpoint (default: the shipped pixel one)")
    parser.add_argument(
        "--fusion-weights", type=Path, default=None, help="nxn: fusion checkpoint (default: the shipped pixel one)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("runs/encoder-tiny/samples"),
        help="training sample cache (for the mean-head baseline)",
    )
    parser.add_argument("--heads", type=int, default=24, help="held-out identities")
    parser.add_argument("--iters", type=int, default=None, help="planefit: Adam steps of each fit (default 300)")
    parser.add_argument("--clips", type=int, default=None, help="nxn: held-out clips (default 3)")
    parser.add_argument("--frames", type=int, default=None,
                        help="nxn: frames per clip (default 8); real: frames from the start of VIDEO (default all)")
    parser.add_argument("--views", type=int, default=None, help="nxn: N, views from -60 to +60 deg yaw (default 5)")
    parser.add_argument("--eval-size", type=int, default=None, help="nxn: side of the compared renders (default 128)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="nxn: a global lifter scored beside --weights, per-frame (lifter_v1) and as its mean "
                             "head over --data (mean_head)")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="nxn: keep each clip's measurements here as it finishes and reuse them (a stopped "
                             "evaluation goes on from the next clip, also in a later session)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON report, Markdown (and PNG figure) beside (default out/eval_encoder.json or "
                             "out/eval_nxn.json)")


def run(args) -> int:
    from backend.models.weights import load_fusion, load_lifter

    if args.heads < 1:
        raise SystemExit(f"eval: --heads must be at least 1, not {args.heads}")
    if args.iters is not None and args.iters < 0:
        raise SystemExit(f"eval: --iters must be at least 0, not {args.iters}")
    if args.protocol == "lifters":
        return _lifters(args)
    if args.protocol == "real":
        return _real(args)
    if args.protocol == "shots":
        import json
        import tempfile

        from backend.eval.edited_clip import evaluate_edited
        from backend.models.weights import load_lifter

        with tempfile.TemporaryDirectory() as tmp:
            report = evaluate_edited(Path(tmp), lifter=load_lifter(args.weights))
        out = args.out or Path("out/eval_shots.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        print(f"eval: wrote {out}")
        return 0
    if args.protocol == "identity":
        from backend.eval.identity_roc import evaluate_identity, markdown_report, write_report

        report = evaluate_identity()
        js, md = write_report(report, args.out or Path("out/identity_roc.json"))
        print(markdown_report(report))
        print(f"eval: wrote {js} and {md}")
        return 0
    try:
        model = load_lifter(args.weights)
        fusion = load_fusion(args.fusion_weights) if args.protocol == "nxn" else None
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"eval: {exc}") from None
    if args.protocol == "nxn":
        return _nxn(args, model, fusion)
    if args.protocol == "planefit":
        return _planefit(args, model)
    from backend.eval.encoder_report import EncoderEvalConfig, evaluate_encoder, markdown_report, write_report

    result = evaluate_encoder(model, args.data, EncoderEvalConfig(heads=args.heads))
    js, md = write_report(result, args.out or Path("out/eval_encoder.json"))
    print(markdown_report(result))
    print(f"eval: wrote {js} and {md}")
    return 0


def _nxn(args, lifter, fusion) -> int:
    from backend.eval.nxn import NxNConfig, evaluate_nxn, markdown_report, write_report

    cfg = NxNConfig()
    for key in ("clips", "frames", "views", "eval_size"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if cfg.views < 2:
        raise SystemExit("eval: --views must be at least 2 (the N x N protocol needs novel views)")
    baseline = mean_head = None
    if args.baseline is not None:
        from backend.eval.encoder_report import mean_triplane
        from backend.models.weights import load_lifter

        try:
            baseline = load_lifter(args.baseline)
            mean_head = mean_triplane(baseline, args.data, 200)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"eval: --baseline: {exc}") from None
    key = ""
    if args.cache is not None:  # the cached clips must come from these very networks
        from backend.checkpoint import file_sha256
        from backend.models.weights import default_fusion_path, default_lifter_path

        files = [args.weights or default_lifter_path(), args.fusion_weights or default_fusion_path()]
        files += [args.baseline] if args.baseline is not None else []
        key = " ".join(file_sha256(Path(f))[:16] for f in files)
        key += f" mean head {args.data.name}" if mean_head is not None else ""
    result = evaluate_nxn(lifter, fusion, cfg, baseline=baseline, mean_head=mean_head, cache=args.cache,
                          cache_key=key)
    js, md, png = write_report(result, args.out or Path("out/eval_nxn.json"))
    print(markdown_report(result["summary"]))
    print(f"eval: wrote {js}, {md} and {png}")
    return 0


def _planefit(args, lifter) -> int:
    from backend.eval.lifter_compare import LifterCompareConfig, heldout_cache
    from backend.eval.plane_fit import PlaneFitConfig, evaluate_plane_fit, markdown_report, write_report

    cfg = PlaneFitConfig(heads=args.heads)
    if args.iters is not None:
        cfg.iters = args.iters
    heldout = heldout_cache(args.heldout, LifterCompareConfig(heads=cfg.heads, view_res=cfg.view_res),
                            lifter.cfg.image_size)  # fmt: skip
    result = evaluate_plane_fit(lifter, heldout, cfg)
    js, md, png = write_report(result, args.out or Path("out/eval_planefit.json"))
    print(markdown_report(result))
    print(f"eval: wrote {js}, {md} and {png}")
    return 0


def _lifters(args) -> int:
    from backend.eval.lifter_compare import (
        LifterCompareConfig,
        compare_lifters,
        heldout_cache,
        markdown_report,
        write_report,
    )
    from backend.models.weights import load_lifter

    lifters = {}
    for item in args.lifter:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"eval: --lifter {item!r}: expected NAME=PATH")
        try:
            lifters[name] = load_lifter(Path(path))
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"eval: --lifter {name}: {exc}") from None
    if not any(not m.needs_geometry for m in lifters.values()):
        raise SystemExit("eval: --protocol lifters needs at least one global lifter (e.g. the shipped tiny one)")
    cfg = LifterCompareConfig(heads=args.heads)
    size = next(iter(lifters.values())).cfg.image_size
    heldout = heldout_cache(args.heldout, cfg, size)
    result = compare_lifters(lifters, heldout, args.data, cfg)
    js, md, png = write_report(result, args.out or Path("out/eval_lifters.json"))
    print(markdown_report(result))
    print(f"eval: wrote {js}, {md} and {png}")
    return 0


def _real(args) -> int:
    from backend.eval.real import RealEvalConfig, evaluate_real, markdown_report, write_report
    from backend.eval.real_inputs import write_real_inputs
    from backend.face.identity import IdentityModelError
    from backend.face.preprocess import NoFaceError
    from backend.video import VideoError
    from headfuse_wire.options import OptionError, ReconstructConfig

    if (args.video is None) != (args.ref is None):
        raise SystemExit("eval: --protocol real takes VIDEO and --ref IMAGE together (neither: the packaged inputs)")
    job = ReconstructConfig(
        mode=args.mode, texture=args.texture, device="cpu",
        weights=None if args.weights is None else str(args.weights),
        fusion_weights=None if args.fusion_weights is None else str(args.fusion_weights),
    )
    if args.video is not None:
        inputs, out = [(None, args.video, args.ref)], args.out or Path("out/eval_real.json")
    else:
        folder = (args.out or Path("out/eval_real")).with_suffix("")
        inputs = write_real_inputs(folder / "inputs")
    tables = []
    for name, video, ref in inputs:
        try:
            report = evaluate_real(video, ref, job, RealEvalConfig(frames=args.frames))
        except (FileNotFoundError, VideoError, NoFaceError, IdentityModelError, OptionError, ValueError) as exc:
            raise SystemExit(f"eval: {exc}") from None
        js, md, png = write_report(report, out if name is None else folder / f"{name}.json")
        tables.append(markdown_report(report))
        print(tables[-1])
        print(f"eval: wrote {js}, {md}" + (f" and {png}" if png else ""))
    if args.video is None:
        (folder / "summary.md").write_text("\n".join(tables))
        print(f"eval: wrote {folder / 'summary.md'}")
    return 0
