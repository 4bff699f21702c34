"""Losses for the lifter: renders from the input and other cameras, and direct 3D supervision."""

import torch
import torch.nn.functional as F

from backend.config import RenderConfig
from backend.render.field import Field
from backend.render.rays import generate_rays
from backend.render.renderer import render_rays


def density_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between log(1 + density) of prediction and ground truth, `[B, N, 1]` each.

    The log compresses the 0..50 range so empty space and the surface shell both count.
    """
    return F.l1_loss(torch.log1p(pred), torch.log1p(target))


def colour_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted L1 of RGB `[B, N, 3]`, weights `[B, N, 1]` (colour only matters where there is matter)."""
    return ((pred - target).abs() * weight).sum() / (weight.sum() * 3.0).clamp_min(1.0)


def render_losses(
    field: Field,
    cam2world: torch.Tensor,
    intrinsics: torch.Tensor,
    rgb: torch.Tensor,
    mask: torch.Tensor,
    background: torch.Tensor,
    cfg: RenderConfig,
    rays_per_view: int | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """L1 of rendered RGB and opacity against ground truth, over V views of each of B fields.

    cam2world `[B, V, 4, 4]`, intrinsics `[B, V, 3, 3]`, rgb `[B, V, 3, r, r]` (the head alone
    over `background [B, 3]`), mask `[B, V, 1, r, r]`. The field is batched over B: every view of
    element b is rendered from field b (views are folded into the ray dimension). With
    `rays_per_view`, a random subset of pixels of each view is rendered (the same subset for all).
    Besides the losses it returns the rendered `rgb` and its `target`, `[B, V, n, 3]` each (n rays
    per view), for losses across frames.
    """
    B, V, _, r, _ = rgb.shape
    origins, dirs = generate_rays(cam2world.reshape(B * V, 4, 4), intrinsics.reshape(B * V, 3, 3), r)  # [B*V, r*r, 3]
    target = rgb.reshape(B * V, 3, r * r).transpose(1, 2)  # [B*V, r*r, 3]
    target_mask = mask.reshape(B * V, 1, r * r).transpose(1, 2)
    if rays_per_view is not None and rays_per_view < r * r:
        keep = torch.randperm(r * r, generator=generator)[:rays_per_view]
        origins, dirs, target, target_mask = origins[:, keep], dirs[:, keep], target[:, keep], target_mask[:, keep]
    n = origins.shape[1]
    out = render_rays(field, origins.reshape(B, V * n, 3), dirs.reshape(B, V * n, 3), cfg, generator)
    opacity = out["opacity"].reshape(B * V, n, 1)
    pred = out["features"][..., :3].reshape(B * V, n, 3)
    pred = pred + (1.0 - opacity) * background.repeat_interleave(V, 0)[:, None, :]
    return {"render_rgb": F.l1_loss(pred, target), "render_mask": F.l1_loss(opacity, target_mask),
            "rgb": pred.reshape(B, V, n, 3), "target": target.reshape(B, V, n, 3)}


def temporal_change_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |(P_t - P_t-1) - (G_t - G_t-1)| of the same pixels over frames, pred and target `[B, T, ...]`.

    Zero for a prediction that changes exactly as the truth does (whatever its constant error);
    flicker the truth does not have and change the prediction misses both count.
    """
    return ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])).abs().mean()
