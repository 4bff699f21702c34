"""`headfuse` command line: one subcommand per module in `backend/commands/`.

Each command module defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Command modules import their heavy dependencies inside `run`, so `headfuse --help` stays fast.
"""

import argparse
import importlib
import sys

COMMANDS = ("doctor", "bench", "synth", "train", "eval", "reconstruct", "demo", "serve", "keys", "batch")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line (`headfuse reconstruct: argument --texture: invalid choice ...`), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from backend import __version__

    parser = _Parser(
        prog="headfuse",
        description="A portrait video plus one reference image -> a 3D head per frame (triplanes, meshes, Blender).",
    )
    parser.add_argument("--version", action="version", version=f"headfuse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"backend.commands.{name}")
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `headfuse` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("headfuse: cancelled", file=sys.stderr)
        return 130
