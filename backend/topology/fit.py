"""The template fitted to one frame's field: every vertex moves along its normal onto the field's
iso-surface, the moves smoothed over the mesh so that it keeps its even spacing (a Laplacian regulariser),
a few rounds from coarse to fine. The topology never changes, so a clip fitted frame by frame is one mesh
whose vertices move."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from backend.render.field import SURFACE_DENSITY

Density = Callable[[torch.Tensor], torch.Tensor]
"""`density(points [N, 3] box units) -> [N]`: the field's density."""


@dataclass
class FitConfig:
    """How far and how smoothly the template moves onto a field."""

    search: float = 0.12
    """Half length of each vertex's search along its normal in the first round (box units: 5 cm, enough
    for the template's hair to reach a short-haired head); it halves every round."""
    samples: int = 17
    """Density samples along each search segment."""
    rounds: int = 6
    """Rounds of search and move."""
    smoothing: int = 8
    """Jacobi steps of Laplacian smoothing of the moves in each round (0: none)."""
    relax: int = 4
    """Steps of tangential relaxation after each round's move: the spacing evened out again, and folds where
    a template feature the field lacks (a nose, a hair edge) flattened out."""
    level: float = SURFACE_DENSITY
    """The iso-surface's density."""


def grid_density(grid: np.ndarray | torch.Tensor, box_half: float = 0.5) -> Density:
    """The density of a grid `[N + 1]^3` over the box (the one marching cubes extracts from: axis 0 is x),
    trilinear between its samples: a fit costs lookups, not field queries. Outside the box: 0."""
    g = torch.as_tensor(grid, dtype=torch.float32).permute(2, 1, 0)[None, None]  # [1, 1, z, y, x]

    def density(points: torch.Tensor) -> torch.Tensor:
        coords = (points / box_half).reshape(1, -1, 1, 1, 3)
        return torch.nn.functional.grid_sample(g, coords, align_corners=True, padding_mode="zeros").reshape(-1)

    return density


def mesh_graph(faces: np.ndarray, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mesh's directed edges `[2E, 2]` and each point's degree `[n]` (what the smoothing walks)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    e = torch.from_numpy(np.concatenate([e, e[:, ::-1]]).astype(np.int64))
    return e, torch.bincount(e[:, 0], minlength=n).clamp(min=1).float()


def _normals(points: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    a, b, c = (points[faces[:, i]] for i in range(3))
    fn = torch.cross(b - a, c - a, dim=1)
    n = torch.zeros_like(points).index_add_(0, faces[:, 0], fn).index_add_(0, faces[:, 1], fn)
    return torch.nn.functional.normalize(n.index_add_(0, faces[:, 2], fn), dim=1)


def surface_offsets(density: Density, points: torch.Tensor, normals: torch.Tensor, search: float, samples: int,
                    level: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Signed distance along each normal to the nearest crossing of `level` within +-`search`: `[P]`, and
    whether one was found `[P]` bool. points, normals `[P, 3]` box units."""
    t = torch.linspace(-search, search, samples)  # [S]
    probes = points[:, None, :] + t[None, :, None] * normals[:, None, :]  # [P, S, 3]
    d = density(probes.reshape(-1, 3)).reshape(len(points), samples) - level  # [P, S], > 0 inside
    cross = (d[:, :-1] > 0) != (d[:, 1:] > 0)  # [P, S - 1]
    frac = d[:, :-1] / (d[:, :-1] - d[:, 1:]).where(cross, torch.ones_like(d[:, 1:]))
    at = t[:-1] + frac.clamp(0, 1) * (t[1] - t[0])  # [P, S - 1] crossing positions
    at = torch.where(cross, at, torch.full_like(at, float("inf")))
    nearest = at.abs().argmin(dim=1)
    found = cross.any(dim=1)
    offset = at.gather(1, nearest[:, None])[:, 0]
    return torch.where(found, offset, torch.zeros_like(offset)), found


def relax(points: torch.Tensor, faces: torch.Tensor, iterations: int, step: float = 0.5,
          graph: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
    """Even out the spacing of a mesh's `points [P, 3]` (faces `[F, 3]`): each point moves `step` of the way
    to its neighbours' mean, within its tangent plane (so the surface stays where it is). `graph`: the
    mesh's (edges, degrees) when already known."""
    edges, degree = graph if graph is not None else mesh_graph(faces.numpy(), len(points))
    p = points.clone()
    n = _normals(p, faces)  # the tangent planes of the start: the steps are small
    for _ in range(iterations):
        d = torch.zeros_like(p).index_add_(0, edges[:, 0], p[edges[:, 1]]) / degree[:, None] - p
        p += step * (d - (d * n).sum(1, keepdim=True) * n)
    return p


@torch.no_grad()
def fit_template(density: Density, points: np.ndarray, faces: np.ndarray, cfg: FitConfig | None = None,
                 graph: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The template's welded `points [P, 3]` (box units; faces `[F, 3]` on them) moved onto `density`'s
    iso-surface. Returns the fitted points `[P, 3]` and each point's remaining distance to the surface
    `[P]` (box units, along its normal; NaN where no surface is within a quarter of the first search).
    `graph`: `mesh_graph(faces, P)` when already made (a clip's frames share it)."""
    cfg = cfg or FitConfig()
    p = torch.from_numpy(np.asarray(points, np.float32)).clone()
    f = torch.from_numpy(np.asarray(faces, np.int64))
    edges, degree = graph if graph is not None else mesh_graph(np.asarray(faces), len(p))
    search = cfg.search
    for _ in range(cfg.rounds):
        n = _normals(p, f)
        offset, found = surface_offsets(density, p, n, search, cfg.samples, cfg.level)
        move = offset[:, None] * n
        weight = found.float()[:, None]
        for _ in range(cfg.smoothing):  # a point without a crossing takes its neighbours' moves
            mean = torch.zeros_like(move).index_add_(0, edges[:, 0], move[edges[:, 1]]) / degree[:, None]
            move = weight * (0.5 * move + 0.5 * mean) + (1 - weight) * mean
        p = relax(p + move, f, cfg.relax, graph=(edges, degree))
        search *= 0.5
    n = _normals(p, f)
    offset, found = surface_offsets(density, p, n, cfg.search / 4, cfg.samples, cfg.level)
    error = torch.where(found, offset.abs(), torch.full_like(offset, float("nan")))
    return p.numpy(), error.numpy()
