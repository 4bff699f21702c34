"""`headfuse keys`: CurveZMQ key pairs for an encrypted, authenticated server and its clients."""

import argparse
from pathlib import Path

NAME = "keys"
HELP = "make CurveZMQ key pairs: the server's, and clients' (added to the server's allow-list)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="key folder (server/ and one folder per client)")
    parser.add_argument(
        "--clients", nargs="*", default=None, metavar="NAME", help="clients to create with new server keys (client)"
    )
    parser.add_argument("--add-client", default=None, metavar="NAME", help="add one client to existing server keys")


def run(args) -> int:
    from backend.server.keys import add_client, check_client_name, make_server_keys

    try:
        if args.add_client:
            folders = [add_client(args.out, args.add_client)]
        else:
            names = [check_client_name(n) for n in (args.clients or ["client"])]  # before anything is written
            folders = [make_server_keys(args.out)]
            folders += [add_client(args.out, name) for name in names]
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"keys: {exc}") from None
    for folder in folders:
        print(f"wrote {folder}")
    print(f"server: headfuse serve --curve-keys {Path(args.out) / 'server'}  (it reads its allow-list again "
          "when a key is added or removed)")
    return 0
