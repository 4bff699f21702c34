"""Device choice shared by every command: `auto` is CUDA when present, else CPU."""

import re

import torch

DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
"""What `--device` accepts, as the error messages say it."""


def check_device_name(name: str) -> None:
    """Raise a one-line ValueError unless `name` is `auto`, `cpu`, `cuda` or `cuda:N` (no CUDA needed)."""
    if name not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", name):
        raise ValueError(f"device {name!r}: expected {DEVICE_NAMES}")


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for `auto`, `cpu`, `cuda` or `cuda:N`; explain when CUDA is missing."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but this torch build sees no CUDA GPU; use --device cpu")
    return torch.device(name)
