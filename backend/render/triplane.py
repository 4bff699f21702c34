"""Triplane sampling: three axis-aligned feature planes, bilinear lookups, averaged.

Plane order xy, xz, yz. A plane tensor `[B, 3, C, H, W]` is indexed like an image: its width
axis is the plane's first coordinate, its height axis the second (so `planes[:, 0]` is indexed by
(x, y), `planes[:, 1]` by (x, z), `planes[:, 2]` by (y, z)). Points outside the box read zeros.
"""

import torch
import torch.nn.functional as F

# For each plane, which two world axes give its (width, height) coordinates.
PLANE_AXES = ((0, 1), (0, 2), (1, 2))


def check_triplane(planes: torch.Tensor, channels: int | None = None) -> None:
    """Raise a clear ValueError unless `planes` is a finite `[B, 3, C, H, W]` tensor."""
    if not isinstance(planes, torch.Tensor):
        raise ValueError(f"triplane must be a torch.Tensor [B, 3, C, H, W], got {type(planes).__name__}")
    if planes.dim() != 5 or planes.shape[1] != 3:
        raise ValueError(f"triplane must have shape [B, 3, C, H, W] (planes xy, xz, yz), got {tuple(planes.shape)}")
    if channels is not None and planes.shape[2] != channels:
        raise ValueError(f"triplane has {planes.shape[2]} channels, the decoder expects {channels}")
    if not torch.isfinite(planes).all():
        bad = (~torch.isfinite(planes)).sum().item()
        raise ValueError(f"triplane contains {bad} NaN/inf values")


def _plane_coords(points: torch.Tensor, box_warp: float) -> torch.Tensor:
    """points `[B, N, 3]` -> grid_sample coordinates `[B, 3, N, 2]` in -1..1 for the three planes."""
    p = points * (2.0 / box_warp)
    return torch.stack([p[..., list(ax)] for ax in PLANE_AXES], dim=1)


def sample_triplane_reference(planes: torch.Tensor, points: torch.Tensor, box_warp: float = 1.0) -> torch.Tensor:
    """Plain path: one `grid_sample` per plane.

    planes `[B, 3, C, H, W]`, points `[B, N, 3]` -> features `[B, N, C]` (mean over planes).
    """
    coords = _plane_coords(points, box_warp)  # [B, 3, N, 2]
    feats = []
    for i in range(3):
        f = F.grid_sample(
            planes[:, i], coords[:, i, None], mode="bilinear", padding_mode="zeros", align_corners=False
        )  # [B, C, 1, N]
        feats.append(f[:, :, 0].transpose(1, 2))
    return torch.stack(feats, dim=0).mean(dim=0)


def sample_triplane(planes: torch.Tensor, points: torch.Tensor, box_warp: float = 1.0) -> torch.Tensor:
    """Fast path: the three planes folded into the batch, one `grid_sample` call.

    planes `[B, 3, C, H, W]`, points `[B, N, 3]` -> features `[B, N, C]` (mean over planes).
    Parity with `sample_triplane_reference` is tested.
    """
    B, _, C, H, W = planes.shape
    assert (
        points.dim() == 3 and points.shape[0] == B and points.shape[2] == 3
    ), f"points must be [B={B}, N, 3], got {tuple(points.shape)}"
    coords = _plane_coords(points, box_warp).reshape(B * 3, 1, -1, 2)  # [B*3, 1, N, 2]
    f = F.grid_sample(
        planes.reshape(B * 3, C, H, W), coords, mode="bilinear", padding_mode="zeros", align_corners=False
    )  # [B*3, C, 1, N]
    return f.reshape(B, 3, C, -1).mean(dim=1).transpose(1, 2)
