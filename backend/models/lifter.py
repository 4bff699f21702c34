"""The lifter: encoder E plus the decoder MLP that turns its planes into a field."""

from pathlib import Path

import torch
from torch import nn

from backend.config import EncoderConfig
from backend.models.encoder import TriplaneEncoder
from backend.render.decoder import TriplaneDecoder
from backend.render.field import TriplaneField


class Lifter(nn.Module):
    """images `[B, 3, S, S]` -> triplanes `[B, 3, C, P, P]`; `field(planes)` makes them renderable."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = TriplaneEncoder(cfg)
        self.decoder = TriplaneDecoder(cfg.plane_channels, cfg.decoder_hidden, cfg.decoder_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def field(self, planes: torch.Tensor, reference: bool = False) -> TriplaneField:
        """A field over planes `[B, 3, C, P, P]` decoded by this lifter's decoder."""
        return TriplaneField(planes, self.decoder, reference=reference)


WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_lifter_path(config: str = "tiny") -> Path:
    """Where the shipped lifter weights of a config live."""
    return WEIGHTS_DIR / config / "lifter.pt"


def load_lifter(path: str | Path | None = None, device: str | torch.device = "cpu") -> Lifter:
    """A lifter in eval mode from a checkpoint written by training (default: the shipped tiny weights)."""
    from backend.checkpoint import load_checkpoint
    from backend.config import config_from_dict

    path = Path(path) if path is not None else default_lifter_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"no lifter weights at {path}; train them with `headfuse train --stage encoder --config tiny`"
        )
    state = load_checkpoint(path, map_location=device)
    model = Lifter(config_from_dict(EncoderConfig, state["encoder_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()
