"""Cameras sampled like real footage after face alignment, in the canonical head frame.

A real clip's crop is aligned to the portrait framing, so in the head frame its camera orbits
the pivot at roughly the default distance; what varies is the head's pose (yaw up to +-70 deg,
pitch +-30 deg, roll), the lens (focal length, with the distance adjusted so the head keeps about
the same size) and the crop's centring (principal point jitter).
"""

import math
from dataclasses import dataclass

import torch

from backend.render.cameras import DEFAULT_FOCAL, DEFAULT_PIVOT, DEFAULT_RADIUS, intrinsics_matrix, orbit_camera


@dataclass
class CameraSampling:
    """Ranges of the camera sampler (angles in degrees)."""

    max_yaw: float = 70.0
    """Largest |yaw| (head turned left/right)."""
    max_pitch: float = 30.0
    """Largest |pitch| (looking up/down)."""
    max_roll: float = 12.0
    """Largest |roll| (head tilt)."""
    focal_range: tuple[float, float] = (3.6, 5.4)
    """Normalized focal length range (default 4.2647)."""
    size_jitter: float = 0.06
    """Relative jitter of the head's apparent size."""
    principal_jitter: float = 0.025
    """Largest principal point offset from the image centre (image units)."""
    pivot_jitter: float = 0.015
    """Largest offset of the look-at point from the default pivot (box units)."""


def sample_cameras(
    n: int, gen: torch.Generator, cfg: CameraSampling | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """n random cameras: cam2world `[n, 4, 4]`, normalized intrinsics `[n, 3, 3]`.

    Yaw is uniform in +-max_yaw; pitch and roll are triangular around 0 (small angles are the
    common case in footage).
    """
    cfg = cfg or CameraSampling()
    u = torch.rand(n, 9, generator=gen)
    yaw = (2 * u[:, 0] - 1) * math.radians(cfg.max_yaw)
    pitch = (u[:, 1] + u[:, 2] - 1) * math.radians(cfg.max_pitch)
    roll = (u[:, 3] + u[:, 4] - 1) * math.radians(cfg.max_roll)
    lo, hi = cfg.focal_range
    focal = lo + (hi - lo) * u[:, 5]
    radius = DEFAULT_RADIUS * focal / DEFAULT_FOCAL * (1 + cfg.size_jitter * (2 * u[:, 6] - 1))
    pivot = torch.tensor(DEFAULT_PIVOT) + cfg.pivot_jitter * (2 * torch.rand(n, 3, generator=gen) - 1)
    cx = 0.5 + cfg.principal_jitter * (2 * u[:, 7] - 1)
    cy = 0.5 + cfg.principal_jitter * (2 * u[:, 8] - 1)
    c2w = torch.stack([orbit_camera(yaw[i], pitch[i], radius[i], pivot[i], roll[i])[0] for i in range(n)])
    return c2w, intrinsics_matrix(focal, cx, cy)


def frontal_camera(n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The default portrait camera (yaw = pitch = 0): cam2world `[n, 4, 4]`, intrinsics `[n, 3, 3]`."""
    return orbit_camera(torch.zeros(n)), intrinsics_matrix(batch=n)


def rig_cameras(
    n_views: int, spread_deg: float = 90.0, radius: float = DEFAULT_RADIUS
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed rig of `n_views` cameras (default lens, at `radius` from the pivot) spread in yaw
    over +-spread/2, slightly above the head, as `[n_views, 4, 4]`, `[n_views, 3, 3]`; view 0 is
    the most central.

    The rig lives in the *world* (studio) frame; `clip` moves it into the head frame per frame.
    """
    if n_views == 1:
        yaws = torch.zeros(1)
    else:
        yaws = torch.linspace(-0.5, 0.5, n_views) * math.radians(spread_deg)
        yaws = yaws[torch.argsort(yaws.abs(), stable=True)]
    c2w = orbit_camera(yaws, torch.full_like(yaws, math.radians(5.0)), radius)
    return c2w, intrinsics_matrix(batch=n_views)
