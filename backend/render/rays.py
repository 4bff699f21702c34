"""Ray generation and ray/box limits."""

import torch


def _hw(resolution) -> tuple[int, int]:
    if isinstance(resolution, int):
        return resolution, resolution
    h, w = resolution
    return int(h), int(w)


def pixel_grid(resolution) -> torch.Tensor:
    """Normalized pixel centres `[H*W, 2]` (u right, v down, both in 0..1), row-major."""
    h, w = _hw(resolution)
    v, u = torch.meshgrid(
        (torch.arange(h, dtype=torch.float32) + 0.5) / h,
        (torch.arange(w, dtype=torch.float32) + 0.5) / w,
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)


def generate_rays(cam2world: torch.Tensor, intrinsics: torch.Tensor, resolution) -> tuple[torch.Tensor, torch.Tensor]:
    """One ray per pixel centre.

    cam2world `[B, 4, 4]`, intrinsics `[B, 3, 3]` (normalized), resolution `int` or `(H, W)`.
    Returns origins `[B, H*W, 3]` and unit directions `[B, H*W, 3]`, pixels row-major.
    """
    assert cam2world.dim() == 3 and cam2world.shape[1:] == (
        4,
        4,
    ), f"cam2world must be [B,4,4], got {tuple(cam2world.shape)}"
    assert intrinsics.shape == (cam2world.shape[0], 3, 3), f"intrinsics must be [B,3,3], got {tuple(intrinsics.shape)}"
    uv = pixel_grid(resolution).to(cam2world.device)  # [N, 2]
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None]
    x = (uv[None, :, 0] - cx) / fx  # [B, N]
    y = (uv[None, :, 1] - cy) / fy
    d_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # [B, N, 3]
    dirs = torch.nn.functional.normalize(d_cam @ cam2world[:, :3, :3].transpose(1, 2), dim=-1)
    origins = cam2world[:, None, :3, 3].expand_as(dirs)
    return origins, dirs


def ray_box_intersection(
    origins: torch.Tensor, dirs: torch.Tensor, half_size: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Slab test against the axis-aligned box [-half_size, half_size]^3.

    origins, dirs `[..., 3]`. Returns near `[..., 1]`, far `[..., 1]` (distances along the ray, near
    clamped at 0) and hit `[...]` (bool). For rays that miss, near = far = 0.
    """
    inv = 1.0 / torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0 = (-half_size - origins) * inv
    t1 = (half_size - origins) * inv
    near = torch.minimum(t0, t1).amax(dim=-1, keepdim=True).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1, keepdim=True)
    hit = (far > near).squeeze(-1)
    near = torch.where(hit[..., None], near, torch.zeros_like(near))
    far = torch.where(hit[..., None], far, torch.zeros_like(far))
    return near, far, hit
