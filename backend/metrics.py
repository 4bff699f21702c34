"""Image and geometry metrics (PSNR, SSIM, Chamfer): below training and evaluation, which both use them."""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in 0..1, `[B, ...]` (any layout after the batch axis) -> `[B]`."""
    mse = ((pred - target) ** 2).flatten(1).mean(dim=1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5) of images in 0..1, `[B, C, H, W]` -> `[B]`."""
    c = pred.shape[1]
    w = _gaussian_window().to(pred)[None, None].repeat(c, 1, 1, 1)

    def blur(x):
        return F.conv2d(x, w, groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(pred), blur(target)
    sxx = blur(pred * pred) - mu_x**2
    syy = blur(target * target) - mu_y**2
    sxy = blur(pred * target) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(dim=1)


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance between point sets `[N, 3]` and `[M, 3]` (their units)."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return float("inf")
    return float(0.5 * (cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()))
