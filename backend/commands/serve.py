"""`headfuse serve`: the ZeroMQ inference server (jobs, job store, local workers, optional CurveZMQ)."""

import argparse
from pathlib import Path

from backend.commands.job_options import add_job_options, job_options_from_args

NAME = "serve"
HELP = "run the inference server (ZeroMQ; loopback by default; jobs survive restarts)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bind", default="tcp://127.0.0.1:5555", help="ZeroMQ endpoint (tcp://127.0.0.1:* picks a free port)"
    )
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (0: queue and serve only)")
    parser.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run the work on a Ray cluster (head host:port, auto, or local); --workers = Ray actors",
    )
    parser.add_argument("--store", type=Path, default=Path("jobs"), help="job store folder (default ./jobs)")
    parser.add_argument(
        "--curve-keys", type=Path, default=None, help="server key folder from `headfuse keys`: CURVE on, allow-list"
    )
    parser.add_argument(
        "--allow-local-paths",
        type=Path,
        nargs="+",
        default=[],
        metavar="DIR",
        help="folders the local-path shortcut may read inputs from (off unless given)",
    )
    parser.add_argument("--max-upload-mb", type=int, default=None, help="largest video upload in MiB (default 2048)")
    parser.add_argument(
        "--max-message-mb", type=float, default=None, help="ZMQ_MAXMSGSIZE in MiB (default 4; >= chunk size)"
    )
    parser.add_argument("--upload-timeout", type=float, default=None, metavar="S",
                        help="seconds an unfinished upload may stall before its job is deleted (default 600)")
    add_job_options(parser)  # the workers' weights and device, and the options of jobs that do not give them


def run(args) -> int:
    import logging
    import signal
    import sys

    from backend.execution.store import StoreError, StoreLockedError
    from backend.server import Server, ServerConfig
    from backend.server.server import StartError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.workers < 0:
        raise SystemExit("serve: --workers must be >= 0")
    defaults = job_options_from_args(args, "serve")
    if args.workers > 0:
        from backend.models.weights import default_lifter_path

        weights = Path(defaults.weights) if defaults.weights else default_lifter_path()
        if not weights.is_file():
            raise SystemExit(f"serve: no lifter weights at {weights}; pass --weights PATH or train them")
    cfg = ServerConfig(
        bind=args.bind,
        workers=args.workers,
        ray=args.ray,
        store=args.store,
        defaults=defaults,
        curve_keys=args.curve_keys,
        allow_local_paths=list(args.allow_local_paths),
    )
    if args.max_upload_mb is not None:
        cfg.max_video_bytes = args.max_upload_mb * 1024**2
        cfg.max_job_upload_bytes = cfg.max_video_bytes + cfg.max_reference_bytes
    if args.upload_timeout is not None:
        cfg.upload_timeout_s = args.upload_timeout
    if args.max_message_mb is not None:
        cfg.max_message_bytes = int(args.max_message_mb * 1024**2)
        cfg.chunk_size = min(cfg.chunk_size, cfg.max_message_bytes // 2)
    server = Server(cfg)
    try:
        endpoint = server.start()
    except (StoreError, StoreLockedError, StartError, FileNotFoundError, ValueError, ConnectionError) as exc:
        server.close()
        raise SystemExit(f"serve: {exc}") from None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: server.stop())
    print(f"headfuse serve: listening on {endpoint}", flush=True)
    try:
        server.serve()
    finally:
        server.close()
        print("headfuse serve: stopped", file=sys.stderr, flush=True)
    return 0
