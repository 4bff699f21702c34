"""Per-plane networks in one call: three independent convolutions run as one grouped convolution.

The undistorter, the visibility head and the fuser each exist once per plane (xy, xz, yz) and are
never shared (sharing collapses the field to 2D). Folding the planes into the channel axis,
`[B, 3, C, H, W] -> [B, 3C, H, W]`, and convolving with `groups=3` runs the three networks at once:
output channels of plane k see only input channels of plane k. `reference_planewise` runs them
one plane at a time; a parity test holds the two together.
"""

import torch
from torch import nn
from torch.nn import functional as F


def fold(planes: torch.Tensor) -> torch.Tensor:
    """`[B, 3, C, H, W]` -> `[B, 3C, H, W]` (plane-major channels)."""
    assert planes.dim() == 5 and planes.shape[1] == 3, f"expected [B, 3, C, H, W], got {tuple(planes.shape)}"
    return planes.flatten(1, 2)


def unfold(x: torch.Tensor) -> torch.Tensor:
    """`[B, 3C, H, W]` -> `[B, 3, C, H, W]`."""
    return x.unflatten(1, (3, x.shape[1] // 3))


def cat_planes(*tensors: torch.Tensor) -> torch.Tensor:
    """Concatenate per-plane features `[B, 3, Ci, H, W]` along C -> `[B, 3C', H, W]` folded."""
    return fold(torch.cat(tensors, dim=2))


class PlaneConv(nn.Conv2d):
    """A conv of `cin -> cout` channels per plane, on folded planes `[B, 3 cin, H, W] -> [B, 3 cout, H', W']`."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, zero: bool = False):
        super().__init__(3 * cin, 3 * cout, kernel, stride, kernel // 2, groups=3)
        self.cin, self.cout = cin, cout
        if zero:
            nn.init.zeros_(self.weight)
            nn.init.zeros_(self.bias)


def plane_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm whose groups never straddle two planes (`3 * g` groups over `3 * channels`)."""
    g = min(8, channels)
    while channels % g:
        g -= 1
    return nn.GroupNorm(3 * g, 3 * channels)


def reference_planewise(conv: PlaneConv, x: torch.Tensor) -> torch.Tensor:
    """The plain path of `conv(x)`: one ordinary convolution per plane. `x` `[B, 3 cin, H, W]`."""
    outs = []
    for k in range(3):
        w = conv.weight[k * conv.cout : (k + 1) * conv.cout]  # [cout, cin, kh, kw]
        b = conv.bias[k * conv.cout : (k + 1) * conv.cout]
        outs.append(F.conv2d(x[:, k * conv.cin : (k + 1) * conv.cin], w, b, conv.stride, conv.padding))
    return torch.cat(outs, 1)
