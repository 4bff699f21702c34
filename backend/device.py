"""Device choice shared by every command: `auto` is CUDA when present, else CPU."""

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for `auto`, `cpu`, `cuda` or `cuda:N`; explain when CUDA is missing."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but this torch build sees no CUDA GPU; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}: expected auto, cpu, cuda or cuda:N")
    return torch.device(name)
