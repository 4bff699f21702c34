"""Visibility ground truth: which points / which parts of the triplanes a camera sees.

Per point: a depth test against the head's own depth map from that camera (the torso is not
part of the field and does not occlude). Per triplane texel: the visible fraction of the head
surface on the line through that texel perpendicular to the plane (planes xy, xz, yz, indexed
like `render.triplane`: width = the plane's first axis, height = its second, cell centres).
"""

import torch

from backend.synth.head import SynthHead
from backend.synth.render import _HEAD_SPHERE, trace_image


@torch.no_grad()
def head_depth_map(
    head: SynthHead, cam2world: torch.Tensor, intrinsics: torch.Tensor, resolution: int = 128
) -> torch.Tensor:
    """The head's depth (distance along the ray, 0 where missed) `[B, 1, R, R]` from cameras `[B, 4, 4]`."""
    t, hit = trace_image(head.sdf, cam2world.float(), intrinsics.float(), resolution, _HEAD_SPHERE)
    B = cam2world.shape[0]
    return torch.where(hit, t, torch.zeros_like(t)).reshape(B, 1, resolution, resolution)


def visibility_from_depth(
    points: torch.Tensor, depth: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor, tol: float = 0.01
) -> torch.Tensor:
    """Visibility `[B, N]` (1 seen, 0 hidden or outside the image) of points `[B, N, 3]`.

    `depth [B, 1, H, W]` is a depth map (distance along the ray, 0 = no surface) from the same
    cameras `[B, 4, 4]`, `[B, 3, 3]`. A point is seen when it projects inside the image, in front
    of the camera, and no farther than the surface in the pixel it falls in plus `tol` (box
    units).
    """
    assert points.dim() == 3 and points.shape[-1] == 3, f"points must be [B, N, 3], got {tuple(points.shape)}"
    B, _, H, W = depth.shape
    uvz = _project(points, cam2world, intrinsics)  # [B, N, 3]
    dist = (points - cam2world[:, None, :3, 3]).norm(dim=-1)  # [B, N]
    inside = (uvz[..., 0] >= 0) & (uvz[..., 0] < 1) & (uvz[..., 1] >= 0) & (uvz[..., 1] < 1) & (uvz[..., 2] > 0)
    d = torch.where(depth > 0, depth, torch.full_like(depth, float("inf")))
    px = (uvz[..., 0] * W).floor().clamp(0, W - 1).long()
    py = (uvz[..., 1] * H).floor().clamp(0, H - 1).long()
    surf = d[:, 0].reshape(B, -1).gather(1, py * W + px)  # [B, N]
    return (inside & (dist <= surf + tol)).float()


def _project(points: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    from backend.render.cameras import project_points

    return project_points(points, cam2world, intrinsics)


@torch.no_grad()
def point_visibility(
    head: SynthHead,
    points: torch.Tensor,
    cam2world: torch.Tensor,
    intrinsics: torch.Tensor,
    resolution: int = 128,
    tol: float = 0.01,
) -> torch.Tensor:
    """Visibility `[B, N]` of points `[B, N, 3]` from cameras `[B, 4, 4]`, `[B, 3, 3]` (renders the depth)."""
    return visibility_from_depth(
        points, head_depth_map(head, cam2world, intrinsics, resolution), cam2world, intrinsics, tol
    )


@torch.no_grad()
def visibility_triplanes(
    head: SynthHead,
    cam2world: torch.Tensor,
    intrinsics: torch.Tensor,
    resolution: int = 32,
    depth_resolution: int = 128,
    depth: torch.Tensor | None = None,
) -> torch.Tensor:
    """Visibility triplanes `[B, 3, 1, R, R]` (xy, xz, yz) of the head from cameras `[B, 4, 4]`.

    The head's SDF is evaluated at the `R^3` cell centres of the box; surface cells (weight
    exp(-(sdf / cell)^2)) vote with their visibility; each texel is the weighted visible fraction
    along its line (0 where the line meets no surface). `depth` `[B, 1, D, D]` may be passed to
    reuse a depth map already rendered from these cameras.
    """
    B = cam2world.shape[0]
    R = resolution
    c = (torch.arange(R, dtype=torch.float32) + 0.5) / R - 0.5
    gx, gy, gz = torch.meshgrid(c, c, c, indexing="ij")
    pts = torch.stack([gx, gy, gz], -1).reshape(-1, 3)  # [R^3, 3], index (ix, iy, iz)
    sdf = torch.cat([head.sdf(pts[i : i + 65536]) for i in range(0, pts.shape[0], 65536)])
    w = torch.exp(-((sdf * R) ** 2))  # [R^3]
    keep = w > 1e-3
    if depth is None:
        depth = head_depth_map(head, cam2world, intrinsics, depth_resolution)
    vis = torch.zeros(B, pts.shape[0])
    vis[:, keep] = visibility_from_depth(
        pts[keep][None].expand(B, -1, 3).contiguous(), depth, cam2world, intrinsics, tol=1.5 / R
    )
    w3 = w.reshape(R, R, R)  # (x, y, z)
    v3 = (vis * w).reshape(B, R, R, R)
    planes = []
    for axis, perm in ((2, (0, 2, 1)), (1, (0, 2, 1)), (0, (0, 2, 1))):  # sum over z -> xy, y -> xz, x -> yz
        num = v3.sum(dim=axis + 1)  # [B, a, b] with a the plane's first axis
        den = w3.sum(dim=axis)[None]
        plane = torch.where(den > 1e-3, num / den.clamp_min(1e-6), torch.zeros_like(num))
        planes.append(plane.permute(*perm))  # [B, H = second axis, W = first axis]
    return torch.stack(planes, 1)[:, :, None]  # [B, 3, 1, R, R]
