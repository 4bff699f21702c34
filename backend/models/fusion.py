"""Stage 2 as one module: undistorter U, visibility head and fuser F, stepped frame by frame.

`FusionNet.step` takes one frame's raw triplane, the clip's prior and the recurrent state and
returns every intermediate (so training supervises each and the ablations can stop anywhere);
`fuse_frame` is what reconstruction calls for a method variant. The recurrent state is one
frame's worth, so a clip streams in constant memory.
"""

from dataclasses import dataclass

import torch
from torch import nn

from backend.config import FusionConfig
from backend.models.fuser import Fuser
from backend.models.undistorter import Undistorter
from backend.models.visibility import VisibilityHead

METHODS = ("per-frame", "undistorter-only", "fuser-only", "fused")
"""Reconstruction variants: the lifter alone, + undistorter, + fuser on the raw planes, + both."""


@dataclass
class FusionState:
    """What carries from one frame to the next in a clip."""

    prior: torch.Tensor
    """The prior triplane `[B, 3, C, P, P]` (the lifter on the reference)."""
    prior_visibility: torch.Tensor
    """Its predicted visibility `[B, 3, 1, P, P]`."""
    recurrent: torch.Tensor
    """The fuser's state `[B, 3, S, P/2, P/2]`."""


class FusionNet(nn.Module):
    """U + visibility head + F for one model size (`FusionConfig`)."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.cfg = cfg
        self.undistorter = Undistorter(cfg)
        self.visibility = VisibilityHead(cfg)
        self.fuser = Fuser(cfg)

    def start(self, prior: torch.Tensor) -> FusionState:
        """The state before the first frame of a clip whose prior triplane is `prior` `[B, 3, C, P, P]`."""
        assert prior.shape[1:] == (3, self.cfg.plane_channels, self.cfg.plane_size, self.cfg.plane_size), (
            f"prior must be [B, 3, {self.cfg.plane_channels}, {self.cfg.plane_size}, {self.cfg.plane_size}], "
            f"got {tuple(prior.shape)}"
        )
        return FusionState(prior, self.visibility(prior), self.fuser.init_state(prior.shape[0], prior.device,
                                                                                 prior.dtype))

    def step(self, raw: torch.Tensor, state: FusionState, undistort: bool = True) -> tuple[dict, FusionState]:
        """One frame: raw `[B, 3, C, P, P]` -> dict of `undist`, `flow` `[B, 3, 2, P, P]`, `vis_undist`
        `[B, 3, 1, P, P]`, `fused`, `blend` and the next state. `undistort=False` feeds the raw planes
        to the fuser (the fuser-only ablation)."""
        if undistort:
            undist, flow = self.undistorter(raw, state.prior)
        else:
            undist, flow = raw, None
        vis = self.visibility(undist)
        fused, blend, recurrent = self.fuser(undist, state.prior, vis, state.prior_visibility, state.recurrent)
        out = {"undist": undist, "flow": flow, "vis_undist": vis, "fused": fused, "blend": blend}
        return out, FusionState(state.prior, state.prior_visibility, recurrent)

    @torch.no_grad()
    def fuse_frame(self, raw: torch.Tensor, state: FusionState, method: str = "fused") -> tuple[torch.Tensor,
                                                                                                 FusionState]:
        """The triplane `[B, 3, C, P, P]` of one frame for `method` (one of METHODS) and the next state."""
        if method == "per-frame":
            return raw, state
        if method == "undistorter-only":
            return self.undistorter(raw, state.prior)[0], state
        if method not in ("fuser-only", "fused"):
            raise ValueError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
        out, state = self.step(raw, state, undistort=method == "fused")
        return out["fused"], state
