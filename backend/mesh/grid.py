"""Density on a regular grid over the box, dense or coarse-to-fine, in bounded-memory chunks.

A grid of `resolution` cells per side has `resolution + 1` points per side spanning
[-box_half, box_half]; `grid[i, j, k]` is the density at (x_i, y_j, z_k).
"""

import numpy as np
import torch
import torch.nn.functional as F

from backend.render.field import Field


def grid_coordinates(resolution: int, box_half: float = 0.5) -> torch.Tensor:
    """The 1-D coordinates `[resolution + 1]` of the grid's points along each axis."""
    return torch.linspace(-box_half, box_half, resolution + 1)


@torch.no_grad()
def evaluate_points(field: Field, points: torch.Tensor, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Field at points `[N, 3]` in chunks -> density `[N]` and features `[N, F]` (on the CPU)."""
    dens, feats = [], []
    device = _field_device(field)
    for start in range(0, points.shape[0], chunk):
        d, f = field(points[None, start : start + chunk].to(device))
        dens.append(d[0, :, 0].float().cpu())
        feats.append(f[0].float().cpu())
    if not dens:
        return torch.zeros(0), torch.zeros(0, 3)
    return torch.cat(dens), torch.cat(feats)


def _field_device(field: Field) -> torch.device:
    planes = getattr(field, "planes", None)
    return planes.device if isinstance(planes, torch.Tensor) else torch.device("cpu")


def _check_density(grid: torch.Tensor, what: str) -> None:
    if not torch.isfinite(grid).all():
        n = int((~torch.isfinite(grid)).sum())
        raise ValueError(f"{what}: the field returned {n} NaN/inf densities; expected finite values >= 0")


@torch.no_grad()
def density_grid_dense(field: Field, resolution: int, box_half: float = 0.5, chunk: int = 262144) -> torch.Tensor:
    """Evaluate every grid point: `[resolution + 1]^3` densities."""
    c = grid_coordinates(resolution, box_half)
    n = c.shape[0]
    out = torch.empty(n, n, n)
    xs = c[:, None, None].expand(n, n, n)
    ys = c[None, :, None].expand(n, n, n)
    zs = c[None, None, :].expand(n, n, n)
    rows_per_chunk = max(1, chunk // (n * n))
    for i in range(0, n, rows_per_chunk):
        sl = slice(i, min(i + rows_per_chunk, n))
        pts = torch.stack([xs[sl], ys[sl], zs[sl]], dim=-1).reshape(-1, 3)
        d, _ = evaluate_points(field, pts, chunk)
        out[sl] = d.reshape(-1, n, n)
    _check_density(out, "dense grid")
    return out


def _active_coarse_cells(coarse: torch.Tensor, level: float, dilate: int) -> torch.Tensor:
    """Cells `[M, M, M]` of a coarse grid `[M+1]^3` whose corners straddle `level`, dilated."""
    above = (coarse > level).float()[None, None]
    hi = F.max_pool3d(above, kernel_size=2, stride=1)  # any corner above
    lo = -F.max_pool3d(-above, kernel_size=2, stride=1)  # all corners above
    active = (hi > lo).float()
    if dilate > 0:
        active = F.max_pool3d(active, kernel_size=2 * dilate + 1, stride=1, padding=dilate)
    return active[0, 0] > 0


@torch.no_grad()
def density_grid_coarse_to_fine(
    field: Field,
    resolution: int,
    level: float,
    coarse_factor: int = 4,
    box_half: float = 0.5,
    chunk: int = 262144,
    dilate: int = 1,
) -> tuple[torch.Tensor, float]:
    """Coarse-to-fine evaluation of the same `[resolution + 1]^3` grid as `density_grid_dense`.

    A coarse grid (`resolution / coarse_factor` cells) is evaluated densely; coarse cells whose
    corners straddle `level` (plus `dilate` cells around them) are evaluated at full resolution;
    every other point takes the trilinear upsampling of the coarse grid, which stays on the same
    side of `level` there, so marching cubes finds the same surface. Returns the grid and the
    fraction of fine points that were evaluated.
    """
    if resolution % coarse_factor:
        raise ValueError(f"resolution {resolution} must be a multiple of coarse_factor {coarse_factor}")
    if coarse_factor == 1:
        return density_grid_dense(field, resolution, box_half, chunk), 1.0
    m = resolution // coarse_factor
    coarse = density_grid_dense(field, m, box_half, chunk)  # [m+1]^3
    grid = F.interpolate(coarse[None, None], size=(resolution + 1,) * 3, mode="trilinear", align_corners=True)[0, 0]
    cells = _active_coarse_cells(coarse, level, dilate)  # [m]^3
    needed = cells.repeat_interleave(coarse_factor, 0).repeat_interleave(coarse_factor, 1)
    needed = needed.repeat_interleave(coarse_factor, 2)  # active fine cells [resolution]^3
    # A point is needed when it is a corner of an active fine cell: point i touches cells i-1 and i.
    for axis in range(3):
        pad = [0, 0] * (2 - axis) + [0, 1]
        grown = F.pad(needed, pad)
        needed = grown | grown.roll(1, dims=axis)
    idx = needed.nonzero()  # [K, 3]
    c = grid_coordinates(resolution, box_half)
    pts = c[idx]  # [K, 3]
    d, _ = evaluate_points(field, pts, chunk)
    grid[idx[:, 0], idx[:, 1], idx[:, 2]] = d
    _check_density(grid, "coarse-to-fine grid")
    return grid, idx.shape[0] / float((resolution + 1) ** 3)


def grid_to_numpy(grid: torch.Tensor) -> np.ndarray:
    """A density grid as a C-contiguous float32 array (what marching cubes wants)."""
    return np.ascontiguousarray(grid.numpy().astype(np.float32))
