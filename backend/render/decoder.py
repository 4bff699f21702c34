"""The triplane decoder (EG3D's OSG decoder): averaged plane features -> density + features."""

import torch
from torch import nn
from torch.nn import functional as F


class TriplaneDecoder(nn.Module):
    """A small MLP: features `[B, N, C]` -> density `[B, N, 1]` (>= 0) and features `[B, N, F]`.

    The first three output features are RGB in [0, 1]. Features use MipNeRF's widened sigmoid
    (so 0 and 1 are reachable), density a softplus shifted by one (a near-zero start, as in EG3D).
    """

    def __init__(self, in_channels: int = 32, hidden: int = 64, out_features: int = 32):
        super().__init__()
        if out_features < 3:
            raise ValueError("out_features must be >= 3 (the first three are RGB)")
        self.in_channels = in_channels
        self.out_features = out_features
        self.net = nn.Sequential(nn.Linear(in_channels, hidden), nn.Softplus(), nn.Linear(hidden, 1 + out_features))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert (
            feats.shape[-1] == self.in_channels
        ), f"decoder expects {self.in_channels} channels, got {feats.shape[-1]}"
        x = self.net(feats)
        density = F.softplus(x[..., :1] - 1.0)
        features = torch.sigmoid(x[..., 1:]) * (1 + 2 * 0.001) - 0.001
        return density, features
