"""The lifter: encoder E plus the decoder MLP that turns its planes into a field."""

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
