"""The single-image lifter E: aligned portrait crop -> canonical triplane (LP3D-style).

Conv stem (patchify to tokens) -> vision transformer (global reasoning: which way the head
faces, what the unseen side looks like) -> conv decoder that upsamples the tokens to the plane
resolution, fused with a shallow high-resolution conv branch on the image (keeps detail the
tokens lose) -> `[B, 3, C, H, W]` planes (xy, xz, yz).
"""

import torch
from torch import nn
from torch.nn import functional as F

from backend.config import EncoderConfig


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.GELU())


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + MLP on tokens `[B, N, D]`."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TriplaneEncoder(nn.Module):
    """images `[B, 3, S, S]` in 0..1 (S = cfg.image_size) -> triplanes `[B, 3, C, P, P]`."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        s, p = cfg.image_size, cfg.plane_size
        if s % cfg.patch_size:
            raise ValueError(f"image_size {s} must be a multiple of patch_size {cfg.patch_size}")
        grid = s // cfg.patch_size
        if p % grid or (p // grid) & (p // grid - 1):
            raise ValueError(f"plane_size {p} must be a power-of-two multiple of the token grid {grid}")
        stem, c = [], 3
        widths = [min(cfg.dim, cfg.stem_width * 2**i) for i in range(cfg.patch_size.bit_length() - 1)]
        for w in widths:  # stride-2 convs down to the token grid
            stem.append(_conv(c, w, 2))
            c = w
        self.stem = nn.Sequential(*stem, nn.Conv2d(c, cfg.dim, 1))
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, cfg.dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim)
        ups, c = [], cfg.dim
        for _ in range((p // grid).bit_length() - 1):  # x2 upsampling stages to the plane size
            ups.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), _conv(c, cfg.decoder_width)
                )
            )
            c = cfg.decoder_width
        self.up = nn.Sequential(*ups)
        self.high = nn.Sequential(_conv(3, cfg.high_width, 2 if s > p else 1), _conv(cfg.high_width, cfg.high_width))
        self.head = nn.Sequential(
            _conv(c + cfg.high_width, cfg.decoder_width), nn.Conv2d(cfg.decoder_width, 3 * cfg.plane_channels, 3, 1, 1)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        B = images.shape[0]
        assert images.shape[1:] == (
            3,
            cfg.image_size,
            cfg.image_size,
        ), f"encoder expects [B, 3, {cfg.image_size}, {cfg.image_size}], got {tuple(images.shape)}"
        x = self.stem(images * 2.0 - 1.0)  # [B, D, g, g]
        g = x.shape[-1]
        tokens = self.norm(self.blocks(x.flatten(2).transpose(1, 2) + self.pos))  # [B, g*g, D]
        x = self.up(tokens.transpose(1, 2).reshape(B, cfg.dim, g, g))  # [B, Cd, P, P]
        hi = self.high(images * 2.0 - 1.0)
        hi = (
            F.interpolate(hi, size=x.shape[-2:], mode="bilinear", align_corners=False)
            if hi.shape[-1] != x.shape[-1]
            else hi
        )
        planes = self.head(torch.cat([x, hi], dim=1))  # [B, 3*C, P, P]
        return planes.reshape(B, 3, cfg.plane_channels, cfg.plane_size, cfg.plane_size)
