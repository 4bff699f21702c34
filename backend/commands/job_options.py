"""Command-line flags generated from `ReconstructConfig` (its fields, types, choices and docstrings), so
`reconstruct`, `batch` and `serve` take the same job options with the same help, and a new option
appears in all three without touching them."""

import argparse
import types
from dataclasses import fields, replace

from headfuse_wire.options import OptionError, ReconstructConfig, option_docs, option_fields, parse_frame_range

FRAMES_FLAG = "--frames"
"""The one flag that sets three fields (start, stop, stride) as `A:B[:STRIDE]`."""


def _flag(f) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def _base_type(f) -> type:
    if isinstance(f.type, types.UnionType):
        return next(t for t in f.type.__args__ if t is not type(None))
    return f.type


def add_job_options(parser: argparse.ArgumentParser, scopes: tuple[str, ...] = ("job", "worker")) -> None:
    """Add a flag per `ReconstructConfig` field in `scopes` (dest: the field name; default None, meaning
    'not given')."""
    docs = option_docs()
    group = parser.add_argument_group("job options")
    seen = set()
    for f in option_fields(scopes):
        flag = _flag(f)
        if flag in seen:
            continue
        seen.add(flag)
        if flag == FRAMES_FLAG:
            group.add_argument(
                FRAMES_FLAG, default=None, metavar="A:B[:STRIDE]",
                help="source frame range: first frame A, one past the last B, every STRIDE-th (default: all)",
            )  # fmt: skip
            continue
        kind = _base_type(f)
        shown = "none" if f.default is None else f.default
        kw = {"dest": f.name, "default": None, "help": f"{docs[f.name]} (default: {shown})"}
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            group.add_argument(flag, type=kind, choices=f.metadata["choices"] or None, **kw)


def job_options_from_args(args, command: str, base: ReconstructConfig | None = None) -> ReconstructConfig:
    """The flags given on the command line over `base` (default: `ReconstructConfig()`), validated; a bad
    value exits with one line naming the flag, the value and what is allowed."""
    cfg = base or ReconstructConfig()
    given = {}
    for f in fields(ReconstructConfig):
        value = getattr(args, f.name, None)
        if _flag(f) != FRAMES_FLAG and value is not None:
            given[f.name] = value
    frames = getattr(args, "frames", None)
    if isinstance(frames, str):
        try:
            given["start"], given["stop"], given["stride"] = parse_frame_range(frames)
        except ValueError as exc:
            raise SystemExit(f"{command}: {FRAMES_FLAG} {exc}") from None
    try:
        return replace(cfg, **given).validate()
    except OptionError as exc:
        flag = next((_flag(f) for f in fields(ReconstructConfig) if f.name == exc.name), exc.name)
        raise SystemExit(f"{command}: {flag} {exc.value}: expected {exc.allowed}") from None
