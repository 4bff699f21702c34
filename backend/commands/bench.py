"""`headfuse bench`: speed and memory, as JSON, each figure against a baseline from the same run."""

import argparse
import datetime
import importlib
import json
import platform
from pathlib import Path

NAME = "bench"
HELP = "run benchmarks (JSON out; ratios against a baseline measured in the same run)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backend.bench import AREAS

    parser.add_argument("--only", default=",".join(AREAS), help=f"comma-separated areas: {', '.join(AREAS)}")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run, noisier figures)")
    parser.add_argument("--mode", default="per-frame", choices=["per-frame", "fused"], help="pipeline mode")


def run(args) -> int:
    import torch

    from backend import __version__
    from backend.bench import AREAS

    areas = [a.strip() for a in args.only.split(",") if a.strip()]
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        raise SystemExit(f"headfuse bench: unknown area(s) {', '.join(unknown)}; choose from {', '.join(AREAS)}")
    result: dict = {
        "meta": {
            "headfuse": __version__,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "machine": platform.platform(),
            "processor": platform.processor(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "quick": bool(args.quick),
        }
    }
    for area in areas:
        print(f"bench: {area} ...", flush=True)
        result[area] = importlib.import_module(f"backend.bench.{area}").run(args)
        print(json.dumps({area: result[area]}, indent=2), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"bench: wrote {args.json}")
    return 0
