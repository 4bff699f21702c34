"""Cameras in EG3D's conventions.

World: the head's canonical frame, y up, the face looking towards +z, the field inside the box
[-0.5, 0.5]^3. Cameras: OpenCV style (x right, y down, looking along +z in camera space),
`cam2world` is a 4x4 rigid transform, intrinsics are *normalized* (fx, fy, cx, cy in units of
the image size, so one camera serves every resolution). The default portrait camera sits on a
sphere of radius 2.7 around the pivot (0, 0, 0.2) with normalized focal 4.2647: EG3D's "18.837 deg"
is the diagonal field of view (13.37 deg vertical), so the frame spans about 0.63 box units at the
pivot, an FFHQ-like tight portrait crop.
"""

import math

import numpy as np
import torch

DEFAULT_RADIUS = 2.7
DEFAULT_PIVOT = (0.0, 0.0, 0.2)
DEFAULT_FOCAL = 4.2647


def intrinsics_matrix(
    focal: float | torch.Tensor = DEFAULT_FOCAL,
    cx: float | torch.Tensor = 0.5,
    cy: float | torch.Tensor = 0.5,
    batch: int | None = None,
) -> torch.Tensor:
    """Normalized pinhole intrinsics.

    Scalars give one `[3, 3]` matrix (or `[batch, 3, 3]` when `batch` is set); tensors of shape
    `[B]` give `[B, 3, 3]`.
    """
    f = torch.as_tensor(focal, dtype=torch.float32)
    cx = torch.as_tensor(cx, dtype=torch.float32)
    cy = torch.as_tensor(cy, dtype=torch.float32)
    f, cx, cy = torch.broadcast_tensors(f, cx, cy)
    K = torch.zeros(f.shape + (3, 3))
    K[..., 0, 0] = f
    K[..., 1, 1] = f
    K[..., 0, 2] = cx
    K[..., 1, 2] = cy
    K[..., 2, 2] = 1.0
    if batch is not None and K.dim() == 2:
        K = K.expand(batch, 3, 3).clone()
    return K


def focal_to_fov_degrees(focal: float, diagonal: bool = False) -> float:
    """Field of view of a normalized focal length: vertical, or diagonal (EG3D quotes diagonal)."""
    half = 0.5 * (math.sqrt(2.0) if diagonal else 1.0)
    return math.degrees(2.0 * math.atan(half / focal))


def look_at(eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None) -> torch.Tensor:
    """cam2world `[B, 4, 4]` for cameras at `eye [B, 3]` looking at `target [B, 3]`.

    The image's up direction is `up` (default world +y); camera y points down in the image.
    """
    eye = torch.as_tensor(eye, dtype=torch.float32).reshape(-1, 3)
    target = torch.as_tensor(target, dtype=torch.float32).reshape(-1, 3).expand_as(eye)
    if up is None:
        up = torch.tensor([0.0, 1.0, 0.0])
    up = torch.as_tensor(up, dtype=torch.float32).reshape(-1, 3).expand_as(eye)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.nn.functional.normalize(torch.cross(forward, up, dim=-1), dim=-1)
    down = torch.cross(forward, right, dim=-1)
    c2w = torch.eye(4).repeat(eye.shape[0], 1, 1)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = down
    c2w[:, :3, 2] = forward
    c2w[:, :3, 3] = eye
    return c2w


def orbit_camera(
    yaw: float | torch.Tensor,
    pitch: float | torch.Tensor = 0.0,
    radius: float | torch.Tensor = DEFAULT_RADIUS,
    pivot=DEFAULT_PIVOT,
    roll: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """cam2world `[B, 4, 4]` on a sphere around `pivot`, angles in radians.

    yaw 0, pitch 0 is the frontal view (camera on +z). Positive yaw moves the camera towards +x
    (it sees the head's +x side), positive pitch moves it up (it looks down on the head). `roll`
    turns the camera about its viewing axis. Scalars or tensors `[B]` broadcast together.
    """
    yaw, pitch, radius, roll = (torch.as_tensor(v, dtype=torch.float32) for v in (yaw, pitch, radius, roll))
    yaw, pitch, radius, roll = torch.broadcast_tensors(yaw, pitch, radius, roll)
    yaw, pitch, radius, roll = (v.reshape(-1) for v in (yaw, pitch, radius, roll))
    pivot = torch.as_tensor(pivot, dtype=torch.float32).reshape(-1, 3).expand(yaw.shape[0], 3)
    offset = torch.stack(
        [torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)], dim=-1
    )
    c2w = look_at(pivot + radius[:, None] * offset, pivot)
    if bool((roll != 0).any()):
        c, s = torch.cos(roll), torch.sin(roll)
        R = torch.zeros(roll.shape[0], 3, 3)
        R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1.0
        c2w = c2w.clone()
        c2w[:, :3, :3] = c2w[:, :3, :3] @ R
    return c2w


def project_points(points: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Project world points `[B, N, 3]` to normalized image coordinates `[B, N, 2]` (0..1) and depth.

    Returns `[B, N, 3]`: (u, v, z) with u right, v down, z the camera-space depth.
    """
    assert points.dim() == 3 and points.shape[-1] == 3, f"points must be [B, N, 3], got {tuple(points.shape)}"
    world2cam = torch.linalg.inv(cam2world)
    pc = points @ world2cam[:, :3, :3].transpose(1, 2) + world2cam[:, None, :3, 3]
    z = pc[..., 2:3]
    uv = pc[..., :2] / z.clamp_min(1e-8)
    uv = uv * torch.stack([intrinsics[:, 0, 0], intrinsics[:, 1, 1]], -1)[:, None] + intrinsics[:, None, :2, 2]
    return torch.cat([uv, z], dim=-1)


def turn_camera(cam2world: np.ndarray, yaw_deg: float, pivot=DEFAULT_PIVOT) -> np.ndarray:
    """`cam2world [4, 4]` (numpy, box units) orbited by `yaw_deg` about the vertical axis through `pivot`:
    the head seen turned. Positive yaw moves the camera towards the head's +x side, as `orbit_camera`."""
    a = math.radians(yaw_deg)
    turn = np.eye(4)
    turn[[0, 0, 2, 2], [0, 2, 0, 2]] = [math.cos(a), math.sin(a), -math.sin(a), math.cos(a)]
    shift = np.eye(4)
    shift[:3, 3] = pivot
    return shift @ turn @ np.linalg.inv(shift) @ np.asarray(cam2world, dtype=np.float64)
