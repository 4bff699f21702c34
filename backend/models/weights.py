"""Weights: where the shipped checkpoints live, and the one place that loads and checks a lifter, fusion
networks, and the pair a worker runs with (fusion weights belong to the lifter they were trained on;
the checkpoint records its SHA-256)."""

from dataclasses import dataclass
from pathlib import Path

import torch

from backend.checkpoint import file_sha256, load_checkpoint
from backend.config import EncoderConfig, FusionConfig, config_from_dict
from backend.models.fusion import FusionNet
from backend.models.lifter import Lifter

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
"""The shipped checkpoints, one folder per config (`pixel/lifter.pt`, `pixel/fusion.pt`, `tiny/...`)."""
DEFAULT_CONFIG = "pixel"
"""The shipped pair a run uses unless told otherwise: the pixel-aligned lifter and the fusion trained on it
(over the 5 held-out N x N clips it beats `tiny` by 1.34 dB at novel views, per-frame)."""


def default_lifter_path(config: str = DEFAULT_CONFIG) -> Path:
    """Where the shipped lifter weights of a config live."""
    return WEIGHTS_DIR / config / "lifter.pt"


def default_fusion_path(config: str = DEFAULT_CONFIG) -> Path:
    """Where the shipped fusion weights of a config live."""
    return WEIGHTS_DIR / config / "fusion.pt"


def lifter_from_state(state: dict, device: str | torch.device = "cpu") -> Lifter:
    """A lifter in eval mode from a lifter checkpoint already read (`load_checkpoint`)."""
    model = Lifter(config_from_dict(EncoderConfig, state["encoder_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def fusion_from_state(state: dict, device: str | torch.device = "cpu") -> FusionNet:
    """A FusionNet in eval mode from a fusion checkpoint already read (`load_checkpoint`)."""
    model = FusionNet(config_from_dict(FusionConfig, state["fusion_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def load_lifter(path: str | Path | None = None, device: str | torch.device = "cpu") -> Lifter:
    """A lifter in eval mode from a checkpoint written by training (default: the shipped `DEFAULT_CONFIG`)."""
    path = Path(path) if path is not None else default_lifter_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"no lifter weights at {path}; train them with `headfuse train --stage encoder --config {DEFAULT_CONFIG}`"
        )
    return lifter_from_state(load_checkpoint(path, map_location=device), device)


def load_fusion(path: str | Path | None = None, device: str | torch.device = "cpu") -> FusionNet:
    """A FusionNet in eval mode from a checkpoint written by `headfuse train --stage fusion`."""
    path = Path(path) if path is not None else default_fusion_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"no fusion weights at {path}; train them with `headfuse train --stage fusion`, "
            "or reconstruct with --mode per-frame"
        )
    return fusion_from_state(load_checkpoint(path, map_location=device), device)


@dataclass
class Networks:
    """The networks a worker loads once and reuses for every clip."""

    lifter: Lifter
    """The single-image lifter (encoder + decoder)."""
    fusion: FusionNet | None
    """Undistorter + fuser, or None when none fits the lifter (then only `per-frame` runs)."""
    fusion_error: str | None = None
    """Why `fusion` is None."""


def load_networks(
    weights: str | Path | None = None, fusion_weights: str | Path | None = None, device: str | torch.device = "cpu"
) -> Networks:
    """The lifter (default: shipped) and the fusion networks trained on that very lifter (default: the
    `fusion.pt` beside the lifter's file, else the shipped one), each file read once. A missing lifter
    raises; a missing or mismatched fuser leaves `fusion` None with the reason."""
    lifter = load_lifter(weights, device)
    beside = Path(weights).with_name("fusion.pt") if weights is not None else None
    if fusion_weights is not None:
        path = Path(fusion_weights)
    else:
        path = beside if beside is not None and beside.is_file() else default_fusion_path()
    if not path.is_file():
        return Networks(lifter, None, f"no fusion weights at {path}; reconstruct with mode per-frame")
    state = load_checkpoint(path, map_location=device)
    lifter_sha = file_sha256(weights if weights is not None else default_lifter_path())
    if state.get("lifter_sha256") != lifter_sha:
        why = f"the fusion weights {path} were trained on another lifter than {weights}; pass matching fusion weights"
        return Networks(lifter, None, why)
    return Networks(lifter, fusion_from_state(state, device))
