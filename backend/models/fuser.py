"""The fuser F: a recurrent video-restoration network in the style of RVRT, one network per plane.

Inputs per frame: the undistorted triplane, the prior triplane, their predicted visibility
triplanes, and the fuser's recurrent state from the previous frame. A full-resolution stem reads
the inputs; a half-resolution trunk (residual blocks) mixes them with the state; the decoder
upsamples and joins the stem's features through a convolution (a convolutional skip connection,
not a plain sum) and predicts, per texel, a blend weight between frame and prior and a residual:

    fused = m * undist + (1 - m) * prior + delta,   m = sigmoid(logit)

so the frame's dynamic detail is kept where it saw the head and the prior's identity fills what
it could not see. The trunk's output becomes the next state. Unlike RVRT's guided deformable
attention the state is not re-aligned between frames: triplanes live in the canonical head frame,
where the head does not move. At initialisation `m` is about 0.95 and `delta` 0.
"""

import torch
from torch import nn
from torch.nn import functional as F

from backend.config import FusionConfig
from backend.models.planewise import PlaneConv, cat_planes, plane_norm, unfold


class PlaneResBlock(nn.Module):
    """x + conv(act(norm(conv(x)))) per plane, on folded planes `[B, 3W, h, w]`."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(PlaneConv(width, width), plane_norm(width), nn.GELU(), PlaneConv(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Fuser(nn.Module):
    """(undist, prior `[B, 3, C, P, P]`, vis_undist, vis_prior `[B, 3, 1, P, P]`, state `[B, 3, S, P/2, P/2]`)
    -> (fused `[B, 3, C, P, P]`, blend `[B, 3, 1, P, P]`, new state)."""

    BLEND_INIT = 3.0
    """Initial blend logit: an untrained fuser passes the frame through (m = sigmoid(3) = 0.95)."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.cfg = cfg
        C, W, S = cfg.plane_channels, cfg.fuser_width, cfg.state_channels
        self.stem = nn.Sequential(PlaneConv(2 * C + 2, W), nn.GELU())
        self.down = nn.Sequential(PlaneConv(W, W, 3, stride=2), nn.GELU())
        self.merge = nn.Sequential(PlaneConv(W + S, W), nn.GELU())
        self.trunk = nn.Sequential(*[PlaneResBlock(W) for _ in range(cfg.fuser_blocks)])
        self.to_state = nn.Sequential(PlaneConv(W, S), nn.Tanh())
        self.skip = nn.Sequential(PlaneConv(2 * W, W), nn.GELU())
        self.head = PlaneConv(W, C + 1, zero=True)
        with torch.no_grad():
            self.head.bias.view(3, C + 1)[:, C] = self.BLEND_INIT

    def init_state(self, batch: int, device: torch.device | str = "cpu", dtype=torch.float32) -> torch.Tensor:
        """The state before the first frame: zeros `[B, 3, S, P/2, P/2]`."""
        half = self.cfg.plane_size // 2
        return torch.zeros(batch, 3, self.cfg.state_channels, half, half, device=device, dtype=dtype)

    def forward(
        self,
        undist: torch.Tensor,
        prior: torch.Tensor,
        vis_undist: torch.Tensor,
        vis_prior: torch.Tensor,
        state: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, _, C, P, _ = undist.shape
        assert prior.shape == undist.shape, f"prior {tuple(prior.shape)} != undist {tuple(undist.shape)}"
        assert state.shape[:3] == (B, 3, self.cfg.state_channels), f"state {tuple(state.shape)}"
        f0 = self.stem(cat_planes(undist, prior, vis_undist, vis_prior))  # [B, 3W, P, P]
        h = self.down(f0)  # [B, 3W, P/2, P/2]
        h = self.trunk(self.merge(torch.cat([unfold(h), state], 2).flatten(1, 2)))
        new_state = unfold(self.to_state(h))  # [B, 3, S, P/2, P/2]
        up = F.interpolate(h, size=(P, P), mode="bilinear", align_corners=False)
        out = unfold(self.head(self.skip(torch.cat([unfold(up), unfold(f0)], 2).flatten(1, 2))))  # [B, 3, C+1, P, P]
        blend = torch.sigmoid(out[:, :, C:])
        fused = blend * undist + (1 - blend) * prior + out[:, :, :C]
        return fused, blend, new_state
