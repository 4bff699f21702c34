"""The undistorter U: a SPyNet-style coarse-to-fine flow pyramid, one network per plane.

Input: the raw triplane of a frame and the condition, the prior triplane from the reference.
At each level (coarsest first; the finest at `flow_finest`, by default half the plane size) the
raw planes, warped by the flow so far, are compared with the prior at that level and a residual
flow is predicted; the flow is upsampled to the next level (and, after the last, to the planes).
The output is `T_undist = warp(T_raw, flow)`: a corrective warp of the frame's own features
conditioned on the prior, not an alignment of two frames (the prior is only looked at). The last
conv of every level starts at zero, so an untrained undistorter is the identity.
"""

import torch
from torch import nn
from torch.nn import functional as F

from backend.config import FusionConfig
from backend.models.planewise import PlaneConv, cat_planes, unfold


def warp_planes(planes: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp planes `[B, 3, C, H, W]` by flow `[B, 3, 2, H, W]` (grid_sample units: the plane spans
    [-1, 1]; channel 0 moves along W, 1 along H): out(p) = planes(p + flow(p)), bilinear, border."""
    B, _, C, H, W = planes.shape
    assert flow.shape == (B, 3, 2, H, W), f"flow must be [B, 3, 2, {H}, {W}], got {tuple(flow.shape)}"
    ys = (torch.arange(H, device=planes.device, dtype=planes.dtype) + 0.5) / H * 2 - 1
    xs = (torch.arange(W, device=planes.device, dtype=planes.dtype) + 0.5) / W * 2 - 1
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)  # [H, W, 2] as (x, y)
    grid = base + flow.reshape(B * 3, 2, H, W).permute(0, 2, 3, 1)
    out = F.grid_sample(planes.reshape(B * 3, C, H, W), grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.reshape(B, 3, C, H, W)


class FlowLevel(nn.Module):
    """One pyramid level: (warped raw, prior, flow) per plane -> residual flow `[B, 3, 2, h, w]`."""

    def __init__(self, channels: int, width: int, kernel: int):
        super().__init__()
        self.net = nn.Sequential(
            PlaneConv(2 * channels + 2, width, kernel),
            nn.GELU(),
            PlaneConv(width, width, kernel),
            nn.GELU(),
            PlaneConv(width, width // 2, kernel),
            nn.GELU(),
            PlaneConv(width // 2, 2, kernel, zero=True),
        )

    def forward(self, warped: torch.Tensor, prior: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return unfold(self.net(cat_planes(warped, prior, flow)))


class Undistorter(nn.Module):
    """raw `[B, 3, C, P, P]`, prior `[B, 3, C, P, P]` -> (undistorted `[B, 3, C, P, P]`, flow `[B, 3, 2, P, P]`)."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.cfg = cfg
        self.levels = nn.ModuleList(
            FlowLevel(cfg.plane_channels, cfg.flow_width, cfg.flow_kernel) for _ in range(cfg.flow_levels)
        )

    def forward(self, raw: torch.Tensor, prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, three, C, P, _ = raw.shape
        assert three == 3 and prior.shape == raw.shape, f"raw {tuple(raw.shape)} and prior {tuple(prior.shape)}"
        flow = None
        top = P // self.cfg.flow_finest
        for level, net in enumerate(self.levels):
            factor = top * 2 ** (len(self.levels) - 1 - level)
            r, p = (raw, prior) if factor == 1 else (_pool(raw, factor), _pool(prior, factor))
            h = r.shape[-1]
            if flow is None:
                flow = raw.new_zeros(B, 3, 2, h, h)
            else:  # flow is in plane units, so upsampling needs no rescaling
                flow = F.interpolate(flow.flatten(1, 2), size=(h, h), mode="bilinear", align_corners=False)
                flow = flow.unflatten(1, (3, 2))
            flow = flow + self.cfg.max_flow * torch.tanh(net(warp_planes(r, flow), p, flow))
        if flow.shape[-1] != P:
            flow = F.interpolate(flow.flatten(1, 2), size=(P, P), mode="bilinear", align_corners=False)
            flow = flow.unflatten(1, (3, 2))
        return warp_planes(raw, flow), flow


def _pool(planes: torch.Tensor, factor: int) -> torch.Tensor:
    B, _, C, P, _ = planes.shape
    return F.avg_pool2d(planes.reshape(B * 3, C, P, P), factor).reshape(B, 3, C, P // factor, P // factor)
