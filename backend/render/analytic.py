"""Analytic fields with known geometry, for tests and benchmarks that need a field without a network."""

import torch

from backend.render.field import SURFACE_DENSITY

# (centre, radii) in box units: cranium, jaw, nose, ears. A head facing +z, about 0.7 units tall.
BLOBBY_HEAD_PARTS = (
    ((0.0, 0.08, 0.0), (0.26, 0.30, 0.29)),
    ((0.0, -0.12, 0.06), (0.18, 0.16, 0.2)),
    ((0.0, 0.0, 0.3), (0.035, 0.07, 0.06)),
    ((0.27, 0.02, -0.02), (0.03, 0.07, 0.05)),
    ((-0.27, 0.02, -0.02), (0.03, 0.07, 0.05)),
)


def sphere_field(radius: float = 0.3, sharpness: float = 0.0005, peak: float = 1000.0):
    """A sphere at the origin: density `peak * sigmoid((radius - |p|) / sharpness)`, RGB = p + 0.5."""

    def field(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = p.norm(dim=-1, keepdim=True)
        return peak * torch.sigmoid((radius - r) / sharpness), (p + 0.5).clamp(0, 1)

    return field


def blobby_head_field(smile: float = 0.0):
    """A head-like smooth union of ellipsoids (cranium, jaw, nose, ears) whose SDF zero level has
    exactly `SURFACE_DENSITY`; `smile` in 0..1 widens the jaw (a cheap stand-in for an expression).
    RGB varies smoothly over the head. Cost: about a microsecond per point."""
    centres = torch.tensor([c for c, _ in BLOBBY_HEAD_PARTS])  # [K, 3]
    radii = torch.tensor([r for _, r in BLOBBY_HEAD_PARTS])  # [K, 3]
    radii[1, 0] *= 1.0 + 0.25 * smile

    def field(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = (p[..., None, :] - centres) / radii  # [..., K, 3]
        d = (q.square().sum(dim=-1).sqrt() - 1.0) * radii.amin(dim=-1)  # [..., K] approximate SDF per part
        sdf = -0.01 * torch.logsumexp(-d / 0.01, dim=-1, keepdim=True)  # smooth union
        rgb = torch.cat([0.5 + p[..., :1], 0.4 + 0.5 * p[..., 1:2], 0.6 - p[..., 2:3]], -1).clamp(0, 1)
        return 2.0 * SURFACE_DENSITY * torch.sigmoid(-sdf / 0.003), rgb

    return field
