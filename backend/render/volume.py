"""Sampling along rays and alpha compositing (NeRF quadrature).

Shapes use `[B, R, S]`: batch, rays, samples along each ray.
"""

import torch


def stratified_depths(
    near: torch.Tensor, far: torch.Tensor, n: int, perturb: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n depths per ray between near `[B, R, 1]` and far `[B, R, 1]` -> `[B, R, n]`.

    One sample per equal bin: at bin centres, or uniformly jittered inside each bin when `perturb`.
    """
    t = torch.arange(n, dtype=near.dtype, device=near.device)
    if perturb:
        offset = torch.rand(near.shape[:-1] + (n,), generator=generator, device=near.device, dtype=near.dtype)
    else:
        offset = torch.full((n,), 0.5, dtype=near.dtype, device=near.device)
    u = (t + offset) / n
    return near + (far - near) * u


def sample_pdf(
    bins: torch.Tensor, weights: torch.Tensor, n: int, perturb: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Inverse-CDF sampling of the piecewise-constant pdf `weights [B, R, K]` on `bins [B, R, K+1]`.

    Returns `[B, R, n]` depths (not sorted against the input depths). Deterministic (evenly spaced
    quantiles) unless `perturb`.
    """
    w = weights + 1e-5
    pdf = w / w.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, dim=-1)], dim=-1)  # [B, R, K+1]
    cdf[..., -1] = 1.0
    if perturb:
        u = torch.rand(cdf.shape[:-1] + (n,), generator=generator, device=cdf.device, dtype=cdf.dtype)
    else:
        u = ((torch.arange(n, dtype=cdf.dtype, device=cdf.device) + 0.5) / n).expand(cdf.shape[:-1] + (n,))
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True)
    lo = (idx - 1).clamp(0, cdf.shape[-1] - 1)
    hi = idx.clamp(0, cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = cdf.gather(-1, lo), cdf.gather(-1, hi)
    bin_lo, bin_hi = bins.gather(-1, lo), bins.gather(-1, hi)
    denom = torch.where(cdf_hi - cdf_lo < 1e-8, torch.ones_like(cdf_hi), cdf_hi - cdf_lo)
    return bin_lo + (u - cdf_lo) / denom * (bin_hi - bin_lo)


def composite(
    density: torch.Tensor, features: torch.Tensor, depths: torch.Tensor, far: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Alpha-composite samples along each ray.

    density `[B, R, S, 1]`, features `[B, R, S, F]`, depths `[B, R, S]` (sorted), far `[B, R, 1]`.
    Returns weights `[B, R, S]`, features `[B, R, F]`, depth `[B, R, 1]` (expected depth of the
    visible surface; `far` where nothing is hit) and opacity `[B, R, 1]`.
    """
    deltas = torch.cat([depths[..., 1:] - depths[..., :-1], (far - depths[..., -1:]).clamp_min(0.0)], dim=-1)
    alpha = 1.0 - torch.exp(-density[..., 0] * deltas)  # [B, R, S]
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-10], dim=-1), dim=-1)
    weights = alpha * trans[..., :-1]
    opacity = weights.sum(dim=-1, keepdim=True)
    feats = (weights[..., None] * features).sum(dim=-2)
    depth = (weights * depths).sum(dim=-1, keepdim=True) / opacity.clamp_min(1e-6)
    depth = torch.where(opacity > 1e-4, depth, far)
    depth = torch.minimum(torch.maximum(depth, depths[..., :1]), far.clamp_min(depths[..., :1]))
    return {"weights": weights, "features": feats, "depth": depth, "opacity": opacity}
