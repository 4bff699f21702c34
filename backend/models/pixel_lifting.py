"""Pixel-aligned lifting into the canonical triplane (the idea of pixelNeRF and PIFu, per plane texel).

Every texel of a plane stands for a line through the box along the plane's missing axis (the xy
plane's texel (x, y) for the line along z, and so on). `line_points` puts `D` samples on each line;
`gather_along_lines` projects them with the crop's solved camera and reads image features there,
plus what the rendered face mesh says of each point:

- `pncc(uv) - X [3]`: from the point to the face-mesh surface the camera sees at its pixel
  (canonical box units; zero where the mesh does not cover the pixel);
- `z(X) - z(pncc(uv)) [1]`: how far in front of (< 0) or behind that surface the point lies, along the
  camera's axis;
- `mask(uv) [1]` and the point itself `X [3]`.

So a texel learns which of its points the image sees and what colour they are, without having to
learn projection from data. Shapes: planes P x P, D samples per line, features `[B, C, h, w]`.
"""

import torch
from torch.nn import functional as F

from backend.render.triplane import PLANE_AXES

POINT_EXTRAS = 8
"""Per-point channels `gather_along_lines` adds after the image features: offset (3), dz (1), mask (1), X (3)."""


def line_points(plane_size: int, depth_samples: int, device: torch.device | None = None) -> torch.Tensor:
    """Sample points `[3, P, P, D, 3]` (box units): for plane k, texel (row h, column w) and sample d.

    Texel centres follow `grid_sample(align_corners=False)`: the plane's first axis is the width
    (column), its second the height (row), as `render.triplane` reads them; samples sit at the
    centres of `D` equal bins across [-0.5, 0.5] of the missing axis.
    """
    P, D = plane_size, depth_samples
    t = (torch.arange(P, device=device, dtype=torch.float32) + 0.5) / P - 0.5  # [P]
    s = (torch.arange(D, device=device, dtype=torch.float32) + 0.5) / D - 0.5  # [D]
    out = torch.zeros(3, P, P, D, 3, device=device)
    for k, (a, b) in enumerate(PLANE_AXES):
        c = 3 - a - b
        out[k, :, :, :, a] = t[None, :, None]  # column -> first axis
        out[k, :, :, :, b] = t[:, None, None]  # row -> second axis
        out[k, :, :, :, c] = s[None, None, :]
    return out


def _camera_space(points: torch.Tensor, cam2world: torch.Tensor) -> torch.Tensor:
    """World points `[B, N, 3]` -> camera space `[B, N, 3]` (OpenCV axes)."""
    rot, pos = cam2world[:, :3, :3], cam2world[:, :3, 3]
    return (points - pos[:, None]) @ rot  # R^T (p - t), rows


def _sample(maps: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """`maps [B, C, h, w]` at `grid [B, N, 2]` (-1..1) -> `[B, N, C]`, zeros outside."""
    out = F.grid_sample(maps, grid[:, None], mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[:, :, 0].transpose(1, 2)


def project_lines(
    geometry: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor, points: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the line points project, and what the face mesh says of them.

    `geometry [B, 8, S, S]`: the face-mesh channels (`face.geometry`); `cam2world [B, 4, 4]` and normalized
    `intrinsics [B, 3, 3]`: the crop's camera; `points [3, L, L, D, 3]` from `line_points`. Returns the
    sampling grid `[B, 3, N, 2]` (-1..1, `grid_sample`'s convention; N = L * L * D, in `points`' order)
    and the extras `[B, 3, N, POINT_EXTRAS]` (offset, dz, mask, X).
    """
    B = geometry.shape[0]
    X = points.reshape(1, -1, 3).expand(B, -1, 3)  # [B, 3N, 3]
    cam = _camera_space(X, cam2world)  # [B, 3N, 3]
    z = cam[..., 2:3].clamp_min(1e-6)
    focal = torch.stack([intrinsics[:, 0, 0], intrinsics[:, 1, 1]], -1)[:, None]  # [B, 1, 2]
    uv = cam[..., :2] / z * focal + intrinsics[:, None, :2, 2]  # [B, 3N, 2], 0..1
    grid = uv * 2.0 - 1.0
    geo = _sample(geometry, grid)  # [B, 3N, 8]
    mask = geo[..., 7:8]
    surface = geo[..., 0:3] / mask.clamp_min(1e-3)  # canonical point of the visible surface (bilinear
    # reads at the mesh's edge are mixed with the zeros outside it, so divide the coverage out)
    surface_z = _camera_space(surface, cam2world)[..., 2:3]
    offset = (surface - X) * mask
    dz = (cam[..., 2:3] - surface_z) * mask
    extras = torch.cat([offset, dz, mask, X], dim=-1)
    return grid.reshape(B, 3, -1, 2), extras.reshape(B, 3, -1, POINT_EXTRAS)


def gather_along_lines(
    features: list[torch.Tensor],
    geometry: torch.Tensor,
    cam2world: torch.Tensor,
    intrinsics: torch.Tensor,
    points: torch.Tensor,
) -> torch.Tensor:
    """Every point's inputs of the lifting `[B, 3, L, L, D, sum(C_i) + POINT_EXTRAS]`: the image feature
    maps `features` (`[B, C_i, h_i, w_i]`, any resolutions) read where it projects, then its extras.
    Arguments as `project_lines`. The plain form; the encoder's fast path never builds this tensor."""
    B = geometry.shape[0]
    grid, extras = project_lines(geometry, cam2world, intrinsics, points)
    grid = grid.reshape(B, -1, 2)
    sampled = [_sample(f, grid) for f in features]
    out = torch.cat([*sampled, extras.reshape(B, grid.shape[1], -1)], dim=-1)  # [B, 3N, Cf + 8]
    return out.reshape(B, *points.shape[:-1], out.shape[-1])
