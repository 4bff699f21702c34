"""The visibility head: a triplane -> how much of each texel the image it came from could see.

Per plane, a small conv net reads the planes alone (a lifted view is sharp where it saw the head
and a guess elsewhere) and predicts a visibility plane in 0..1, supervised by the synthetic
ground truth (`backend.synth.visibility.visibility_triplanes`). The fuser uses it to decide where
to trust the frame and where the prior.
"""

import torch
from torch import nn

from backend.config import FusionConfig
from backend.models.planewise import PlaneConv, fold, plane_norm, unfold


class VisibilityHead(nn.Module):
    """planes `[B, 3, C, P, P]` -> visibility `[B, 3, 1, P, P]` in 0..1."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        w = cfg.visibility_width
        self.net = nn.Sequential(
            PlaneConv(cfg.plane_channels, w, 3),
            plane_norm(w),
            nn.GELU(),
            PlaneConv(w, w, 5),
            nn.GELU(),
            PlaneConv(w, 1, 3),
        )

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(unfold(self.net(fold(planes))))
