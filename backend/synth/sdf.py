"""Signed-distance building blocks: primitives, smooth unions, compact blend weights, rotations.

All functions are vectorized over points `[N, 3]` and, where it applies, over K primitives at once.
"""

import math

import torch


def smoothstep(edge0: float, edge1: float, x: torch.Tensor) -> torch.Tensor:
    """Hermite step: 0 below `edge0`, 1 above `edge1` (edge0 > edge1 gives the falling step)."""
    t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def quadratic_features(points: torch.Tensor) -> torch.Tensor:
    """(x^2, y^2, z^2, 2xy, 2xz, 2yz, x, y, z, 1) `[N, 10]` of points `[N, 3]`."""
    x, y, z = points.unbind(-1)
    return torch.stack([x * x, y * y, z * z, 2 * x * y, 2 * x * z, 2 * y * z, x, y, z, torch.ones_like(x)], -1)


class EllipsoidSet:
    """K ellipsoids evaluated together: two `[N, 10] @ [10, K]` matmuls instead of K passes.

    `centres, radii [K, 3]`, `rot [K, 3, 3]` maps world offsets to each ellipsoid's local axes. The
    squared norms |q / r|^2 and |q / r^2|^2 of the local offset q are quadratic forms in the point,
    so they are linear in the features (x^2, y^2, z^2, 2xy, 2xz, 2yz, x, y, z, 1).
    """

    def __init__(self, centres: torch.Tensor, radii: torch.Tensor, rot: torch.Tensor):
        self.w0 = self._weights(centres.double(), radii.double() ** -2, rot.double())  # [10, K]
        self.w1 = self._weights(centres.double(), radii.double() ** -4, rot.double())

    @staticmethod
    def _weights(c: torch.Tensor, diag: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
        m = rot.transpose(1, 2) @ torch.diag_embed(diag) @ rot  # [K, 3, 3]
        mc = (m @ c[:, :, None])[:, :, 0]  # [K, 3]
        cmc = (c * mc).sum(-1)  # [K]
        w = torch.stack(
            [
                m[:, 0, 0],
                m[:, 1, 1],
                m[:, 2, 2],
                m[:, 0, 1],
                m[:, 0, 2],
                m[:, 1, 2],
                -2 * mc[:, 0],
                -2 * mc[:, 1],
                -2 * mc[:, 2],
                cmc,
            ],
            0,
        )
        return w.float()

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Approximate signed distances `[N, K]` from points `[N, 3]` (the k0 (k0 - 1) / k1 bound)."""
        return self.from_features(quadratic_features(points))

    def from_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Distances `[N, K]` from `quadratic_features` `[N, 10]` (share them between sets)."""
        k0 = (feats @ self.w0).clamp_min(0.0).sqrt()  # [N, K]
        k1 = (feats @ self.w1).clamp_min(1e-12).sqrt()
        return k0 * (k0 - 1.0) / k1


def ellipsoid(points: torch.Tensor, centre: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Approximate signed distance `[N]` to one axis-aligned ellipsoid (`centre, radii [3]`)."""
    q = points - centre  # [N, 3]
    k0 = (q / radii).norm(dim=-1)
    k1 = (q / (radii * radii)).norm(dim=-1).clamp_min(1e-6)
    return k0 * (k0 - 1.0) / k1


def flat_ellipsoid(points: torch.Tensor, centre: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Signed distance `[N]` to an ellipsoid-like slab that is thin in y (`centre, radii [3]`).

    An ellipse in the xz plane (radii shrunk by r_y) inflated by r_y. Unlike the ellipsoid bound,
    this stays close to the true distance when r_y is much smaller than r_x and r_z.
    """
    q = points - centre  # [N, 3]
    ry = radii[1]
    rxz = torch.stack([radii[0], radii[2]]).sub(ry).clamp_min(1e-3)
    qxz = torch.stack([q[:, 0], q[:, 2]], -1)  # [N, 2]
    k0 = (qxz / rxz).norm(dim=-1)
    k1 = (qxz / (rxz * rxz)).norm(dim=-1).clamp_min(1e-6)
    e = k0 * (k0 - 1.0) / k1  # [N] 2D ellipse distance (bound)
    return torch.sqrt(e.clamp_min(0.0) ** 2 + q[:, 1] ** 2) - ry


def smin_exp(d: torch.Tensor, k: float) -> torch.Tensor:
    """Exponential smooth minimum over the last axis: `[N, K] -> [N]` (blend width `k`)."""
    return -k * torch.logsumexp(-d / k, dim=-1)


def smin(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """Polynomial smooth minimum of two distances `[N]`; identical to min where |a - b| >= k."""
    h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0)
    return torch.lerp(b, a, h) - k * h * (1.0 - h)


def smax(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """Polynomial smooth maximum of two distances `[N]`; identical to max where |a - b| >= k."""
    return -smin(-a, -b, k)


def bump(points: torch.Tensor, centre: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Compact blend weight `[N]`: 1 at `centre`, exactly 0 outside the ellipsoid `radii` ([3] each)."""
    r2 = (((points - centre) / radii) ** 2).sum(-1)
    return (1.0 - r2).clamp_min(0.0) ** 2


def rotation_matrix(yaw: float, pitch: float, roll: float) -> torch.Tensor:
    """Rotation `[3, 3]` = R_y(yaw) @ R_x(pitch) @ R_z(roll), angles in radians.

    Positive yaw turns +z towards +x, positive pitch turns +z towards -y (nodding down), positive
    roll turns +x towards +y.
    """
    cy, sy, cp, sp, cr, sr = (
        math.cos(yaw),
        math.sin(yaw),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(roll),
        math.sin(roll),
    )
    ry = torch.tensor([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = torch.tensor([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = torch.tensor([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return ry @ rx @ rz


def axis_rotation_x(angle: float) -> torch.Tensor:
    """Rotation `[3, 3]` about the x axis by `angle` radians (right-handed: +y towards +z)."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
