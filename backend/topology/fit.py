"""The template fitted to one frame's field: every vertex moves along its normal onto the field's
iso-surface, the moves smoothed over the mesh so that it keeps its even spacing (a Laplacian regulariser),
a few rounds from coarse to fine. MediaPipe's face landmarks, lifted onto the field along their rays from
the solved camera, pull their template vertices to where the face's features are (correspondences the
surface alone does not give: where the mouth corner is on the surface). The topology never changes, so a
clip fitted frame by frame is one mesh whose vertices move."""

import warnings
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
    """Density samples along each search segment of the first round; later rounds keep their spacing (their
    segments are shorter), down to `fine_samples`."""
    fine_samples: int = 7
    """The fewest density samples along a segment (the last rounds', whose moves are small)."""
    rounds: int = 5
    """Rounds of search and move."""
    smoothing: int = 8
    """Jacobi steps of Laplacian smoothing of the moves in each round (0: none)."""
    relax: int = 4
    """Steps of tangential relaxation after each round's move: the spacing evened out again, and folds where
    a template feature the field lacks (a nose, a hair edge) flattened out."""
    landmark_pull: float = 0.5
    """Share of the way to its lifted landmark a landmark vertex moves each round (its neighbours follow
    through the smoothing); 0 ignores landmarks."""
    level: float = SURFACE_DENSITY
    """The iso-surface's density."""


class MeshGraph:
    """A triangle mesh's neighbourhoods as sparse operators, made once per clip: the mean of each point's
    neighbours (what the smoothing and the relaxation apply) and the point-face incidence (vertex normals)."""

    def __init__(self, faces: np.ndarray, n: int):
        """faces `[F, 3]` on `n` points."""
        f = np.asarray(faces, np.int64)
        e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        e = np.unique(np.sort(e, axis=1), axis=0)
        e = np.concatenate([e, e[:, ::-1]])  # [2E, 2] directed
        degree = np.bincount(e[:, 0], minlength=n).clip(min=1)
        self.faces = torch.from_numpy(f)
        """`[F, 3]` int64."""
        self._mean = _csr(e[:, 0], e[:, 1], 1.0 / degree[e[:, 0]], (n, n))
        self._incidence = _csr(f.ravel(), np.repeat(np.arange(len(f)), 3), np.ones(f.size), (n, len(f)))

    def neighbour_mean(self, x: torch.Tensor) -> torch.Tensor:
        """`x [n, C]` float32 -> the mean of each point's neighbours `[n, C]`."""
        return self._mean @ x

    def normals(self, points: torch.Tensor) -> torch.Tensor:
        """Unit vertex normals `[n, 3]` of `points [n, 3]` float32 (area-weighted face normals)."""
        a, b, c = (points[self.faces[:, i]] for i in range(3))
        return torch.nn.functional.normalize(self._incidence @ torch.cross(b - a, c - a, dim=1), dim=1)


def _csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    order = np.lexsort((cols, rows))
    crow = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=crow[1:])
    with warnings.catch_warnings():  # torch calls its CSR support beta; a matrix product is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols[order].astype(np.int64)),
                                       torch.from_numpy(values[order].astype(np.float32)), shape)  # fmt: skip


def grid_density(grid: np.ndarray | torch.Tensor, box_half: float = 0.5) -> Density:
    """The density of a grid `[N + 1]^3` over the box (the one marching cubes extracts from: axis 0 is x),
    trilinear between its samples: a fit costs lookups, not field queries. Outside the box: 0."""
    g = torch.as_tensor(grid, dtype=torch.float32).permute(2, 1, 0)[None, None]  # [1, 1, z, y, x]

    def density(points: torch.Tensor) -> torch.Tensor:
        coords = (points / box_half).reshape(1, -1, 1, 1, 3)
        return torch.nn.functional.grid_sample(g, coords, align_corners=True, padding_mode="zeros").reshape(-1)

    return density


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


def relax(points: torch.Tensor, graph: MeshGraph, iterations: int, step: float = 0.5,
          pinned: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """Even out the spacing of a mesh's `points [P, 3]` float32: each point moves `step` of the way to its
    neighbours' mean, within its tangent plane (so the surface stays where it is). `pinned [P]` bool: points
    that stay where they are."""
    p = points.clone()
    n = graph.normals(p)  # the tangent planes of the start: the steps are small
    keep = step if pinned is None else step * (~pinned).float()[:, None]
    for _ in range(iterations):
        d = graph.neighbour_mean(p) - p
        p += keep * (d - (d * n).sum(1, keepdim=True) * n)
    return p


@dataclass
class LandmarkTargets:
    """Where some template points should be: the lifted landmarks of one frame."""

    points: np.ndarray
    """`[L]` int: the welded template points (distinct)."""
    positions: np.ndarray
    """`[L, 3]` float32 box units: where each should be."""


@torch.no_grad()
def lift_landmarks(density: Density, cam2world: np.ndarray, intrinsics: np.ndarray, pixels: np.ndarray,
                   near: np.ndarray, near_normals: np.ndarray, level: float = SURFACE_DENSITY,
                   gap: float = 0.06, samples: int = 33,
                   facing: float = 0.25) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Landmarks lifted onto the field's surface: where each landmark's ray from the camera (`cam2world
    [4, 4]` box units, OpenCV axes; `intrinsics [3, 3]` pixels; `pixels [L, 2]` x, y) first enters the
    surface within +-`gap` (box units) of the depth of its current point `near [L, 3]`. Returns the positions
    `[L, 3]` and whether each is usable `[L]` bool: its point faces the camera (`near_normals [L, 3]`,
    cosine above `facing`: no grazing or hidden landmarks) and the ray enters the surface in the window."""
    c2w = torch.as_tensor(np.asarray(cam2world), dtype=torch.float32)
    k_inv = torch.as_tensor(np.linalg.inv(np.asarray(intrinsics, np.float64)), dtype=torch.float32)
    px = torch.as_tensor(np.asarray(pixels, np.float32))
    dirs = torch.cat([px, torch.ones(len(px), 1)], 1) @ k_inv.T @ c2w[:3, :3].T
    dirs = torch.nn.functional.normalize(dirs, dim=1)  # [L, 3]
    origin = c2w[:3, 3]
    near_t = torch.as_tensor(np.asarray(near, np.float32))
    depth = ((near_t - origin) * dirs).sum(1)  # [L]
    t = depth[:, None] + torch.linspace(-gap, gap, samples)[None]  # [L, S]
    d = density((origin + t[..., None] * dirs[:, None]).reshape(-1, 3)).reshape(len(px), samples) - level
    enter = (d[:, :-1] <= 0) & (d[:, 1:] > 0)  # [L, S - 1] outside -> inside
    first = torch.where(enter, torch.arange(samples - 1), samples).min(dim=1).values  # [L]
    ok = first < samples - 1
    i = first.clamp(max=samples - 2)[:, None]
    d0, d1 = d.gather(1, i)[:, 0], d.gather(1, i + 1)[:, 0]
    frac = (d0 / (d0 - d1).where(ok, torch.ones_like(d0))).clamp(0, 1)
    hit = t.gather(1, i)[:, 0] + frac * (t[0, 1] - t[0, 0])
    positions = origin + hit[:, None] * dirs
    facing_ok = (torch.as_tensor(np.asarray(near_normals, np.float32)) * -dirs).sum(1) > facing
    return positions.numpy(), (ok & facing_ok).numpy()


@torch.no_grad()
def fit_template(density: Density, points: np.ndarray, graph: MeshGraph, cfg: FitConfig | None = None,
                 targets: LandmarkTargets | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The template's welded `points [P, 3]` (box units; `graph` made from its faces) moved onto `density`'s
    iso-surface, the `targets`' points pulled towards their positions. Returns the fitted points `[P, 3]` and
    each point's remaining distance to the surface `[P]` (box units, along its normal; NaN where no surface
    is within a quarter of the first search). Runs on one thread: its operations are small (15k points), and
    a second thread costs more than it gains, 3x more on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(density, points, graph, cfg or FitConfig(), targets)
    finally:
        torch.set_num_threads(threads)


def _fit(density: Density, points: np.ndarray, graph: MeshGraph, cfg: FitConfig,
         targets: LandmarkTargets | None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    p = torch.from_numpy(np.asarray(points, np.float32)).clone()
    anchored = torch.zeros(len(p), dtype=torch.bool)
    if targets is not None and cfg.landmark_pull > 0 and len(targets.points):
        idx = torch.as_tensor(np.asarray(targets.points, np.int64))
        goal = torch.as_tensor(np.asarray(targets.positions, np.float32))
        anchored[idx] = True
    search = cfg.search
    for _ in range(cfg.rounds):
        n = graph.normals(p)
        samples = max(cfg.fine_samples, int(round((cfg.samples - 1) * search / cfg.search)) + 1)
        offset, found = surface_offsets(density, p, n, search, samples, cfg.level)
        move = offset[:, None] * n
        if anchored.any():
            move[idx] = cfg.landmark_pull * (goal - p[idx]) + (1 - cfg.landmark_pull) * move[idx]
            found = found | anchored
        anchor_move = move[anchored]
        weight = found.float()[:, None]
        for _ in range(cfg.smoothing):  # a point without a crossing takes its neighbours' moves
            mean = graph.neighbour_mean(move)
            move = weight * (0.5 * move + 0.5 * mean) + (1 - weight) * mean
            move[anchored] = anchor_move  # landmarks hold their pull; their neighbours follow
        p = relax(p + move, graph, cfg.relax, pinned=anchored)
        search *= 0.5
    n = graph.normals(p)
    offset, found = surface_offsets(density, p, n, cfg.search / 4, 2 * cfg.fine_samples - 1, cfg.level)
    error = torch.where(found, offset.abs(), torch.full_like(offset, float("nan")))
    return p.numpy(), error.numpy()
