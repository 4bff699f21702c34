"""Shared fixtures: seeded torch, and small analytic fields with known answers."""

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def sphere_field(radius: float = 0.3, sharpness: float = 0.0005, peak: float = 1000.0):
    """A sphere at the origin: density `peak * sigmoid((radius - |p|) / sharpness)`, RGB = p + 0.5."""

    def field(p):
        r = p.norm(dim=-1, keepdim=True)
        return peak * torch.sigmoid((radius - r) / sharpness), (p + 0.5).clamp(0, 1)

    return field


def blobby_head_field():
    """A head-like union of ellipsoids (cranium, jaw, nose, two ears) as a smooth SDF field."""
    parts = [  # centre, radii
        ((0.0, 0.08, 0.0), (0.26, 0.30, 0.29)),
        ((0.0, -0.12, 0.06), (0.18, 0.16, 0.2)),
        ((0.0, 0.0, 0.3), (0.035, 0.07, 0.06)),
        ((0.27, 0.02, -0.02), (0.03, 0.07, 0.05)),
        ((-0.27, 0.02, -0.02), (0.03, 0.07, 0.05)),
    ]

    def field(p):
        sdf = None
        for c, r in parts:
            q = (p - torch.tensor(c)) / torch.tensor(r)
            d = (q.norm(dim=-1, keepdim=True) - 1.0) * min(r)
            sdf = d if sdf is None else -torch.logsumexp(torch.cat([-sdf / 0.01, -d / 0.01], -1), -1, keepdim=True) * 0.01
        rgb = torch.cat([0.5 + p[..., :1], 0.4 + 0.5 * p[..., 1:2], 0.6 - p[..., 2:3]], -1).clamp(0, 1)
        return 50.0 * torch.sigmoid(-sdf / 0.003), rgb

    return field
