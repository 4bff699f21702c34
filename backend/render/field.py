"""A radiance field is any callable `points [B, N, 3] -> (density [B, N, 1], features [B, N, F])`.

Density is non-negative (already activated); the first three features are RGB in [0, 1].
`render/` and `mesh/` take such a callable; `TriplaneField` makes one from planes + decoder.
"""

from collections.abc import Callable

import torch

from backend.render.decoder import TriplaneDecoder
from backend.render.triplane import check_triplane, sample_triplane, sample_triplane_reference

Field = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# The iso-level of density that counts as the surface (synthetic heads are built so that their
# signed-distance zero crossing has exactly this density; meshes are extracted at it).
SURFACE_DENSITY = 25.0


class TriplaneField:
    """planes `[B, 3, C, H, W]` + decoder as a field; `reference=True` uses the plain sampler."""

    def __init__(self, planes: torch.Tensor, decoder: TriplaneDecoder, box_warp: float = 1.0, reference: bool = False):
        check_triplane(planes, channels=decoder.in_channels)
        self.planes = planes
        self.decoder = decoder
        self.box_warp = box_warp
        self._sample = sample_triplane_reference if reference else sample_triplane

    def __call__(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self._sample(self.planes, points, self.box_warp))
