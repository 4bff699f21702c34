"""The head template: one clean mesh with a fixed vertex order and one UV layout, made by the project from
the mid-range synthetic person, that a tracked reconstruction deforms frame by frame (one topology for a
whole clip). Each of MediaPipe's 468 face-mesh landmarks is tied to a template vertex.

    python -m backend synth template --out backend/topology/assets/head_template.npz

builds the shipped file (`TEMPLATE_PATH`); `load_head_template()` reads it.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

TEMPLATE_PATH = Path(__file__).resolve().parent / "assets" / "head_template.npz"
"""The shipped template."""
N_FACE_LANDMARKS = 468
"""MediaPipe's face-mesh landmarks with a place on the skin (the 10 iris points after them have none)."""


@dataclass
class HeadTemplate:
    """The template mesh, in metres in the canonical head frame (y up, the face towards +z)."""

    vertices: np.ndarray
    """`[V, 3]` float32; vertices on the UV seam come twice (see `weld`)."""
    faces: np.ndarray
    """`[F, 3]` int32."""
    uv: np.ndarray
    """`[V, 2]` float32, the fixed head layout (`backend.mesh.uv.head_projection_uv`; repeats in u)."""
    weld: np.ndarray
    """`[V]` int32: the unique point each vertex is (a seam duplicate names its original), so a fit moves
    `vertices[weld == i]` together."""
    landmarks: np.ndarray
    """`[468]` int32: the template vertex of each MediaPipe face-mesh landmark."""
    landmark_points: np.ndarray
    """`[468, 3]` float32: where each landmark was found on the template's surface (metres)."""

    def save(self, path: str | Path) -> Path:
        """Write the template as `.npz` (whole or not at all)."""
        from backend.files import atomic_path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        return path


def load_head_template(path: str | Path = TEMPLATE_PATH) -> HeadTemplate:
    """The template written by `HeadTemplate.save` (default: the shipped one)."""
    with np.load(path) as z:
        return HeadTemplate(**{k: z[k] for k in HeadTemplate.__dataclass_fields__})


@torch.no_grad()
def build_head_template(resolution: int = 64, relax_iterations: int = 8, render_size: int = 512) -> HeadTemplate:
    """The template of the mid-range synthetic person (`Identity.template()`, neutral): marching cubes of
    its exact field at `resolution` cells per side (its largest part: no eyeballs), relaxed for even
    spacing, laid out in the fixed head UVs; the landmarks are MediaPipe's face mesh on a frontal render,
    lifted to the surface by the render's depth and tied to the nearest vertex."""
    from backend.face.detect import FaceDetector
    from backend.mesh.extract import surface_from_grid
    from backend.mesh.grid import density_grid_coarse_to_fine, grid_to_numpy
    from backend.mesh.uv import head_projection_uv
    from backend.render.cameras import intrinsics_matrix, orbit_camera
    from backend.render.field import SURFACE_DENSITY
    from backend.render.rays import generate_rays
    from backend.synth.head import SynthHead
    from backend.synth.identity import Identity
    from backend.synth.render import render_gt
    from backend.topology.fit import MeshGraph, relax
    from backend.units import METRES_PER_BOX_UNIT

    head = SynthHead(Identity.template())

    def density(points):  # [B, N, 3] -> density [B, N, 1], unused rgb
        flat = points.reshape(-1, 3)
        return head.density_from_sdf(head.sdf(flat)).reshape(*points.shape[:2], 1), torch.zeros(*points.shape[:2], 3)

    grid, _ = density_grid_coarse_to_fine(density, resolution, SURFACE_DENSITY, coarse_factor=2, chunk=65536)
    verts, faces = surface_from_grid(grid_to_numpy(grid), SURFACE_DENSITY, keep_largest=True)  # box units
    verts = relax(torch.from_numpy(verts.astype(np.float32)), MeshGraph(faces, len(verts)), relax_iterations).numpy()
    weld, faces, uv = head_projection_uv(verts, faces)
    # landmarks: a frontal render of the field itself, with its depth
    c2w, K = orbit_camera(0.0, 0.0), intrinsics_matrix(batch=1)
    out = render_gt(head, c2w, K, render_size, background=torch.tensor([0.3, 0.5, 0.6]), torso=False)
    image = (out["rgb"][0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    with FaceDetector() as detector:
        boxes = detector.detect(image)
        if not boxes:
            raise RuntimeError("no face found on the template's frontal render")
        lm = detector.landmarks(image, boxes[0])
    if lm is None:
        raise RuntimeError("no face mesh on the template's frontal render")
    origins, dirs = generate_rays(c2w, K, render_size)
    depth_image = out["head_depth"][0, 0].numpy()
    depth = torch.from_numpy(depth_image.reshape(-1))
    px = np.clip(np.round(lm[:N_FACE_LANDMARKS, :2] - 0.5).astype(int), 0, render_size - 1)  # [468, 2] x, y
    hit = np.argwhere(depth_image > 0)[:, ::-1]  # [P, 2] x, y of the pixels that see the head
    for k in np.flatnonzero(depth_image[px[:, 1], px[:, 0]] <= 0):  # a landmark just off the silhouette
        px[k] = hit[np.argmin(((hit - px[k]) ** 2).sum(1))]
    idx = torch.from_numpy(px[:, 1] * render_size + px[:, 0])
    points = (origins[0, idx] + dirs[0, idx] * depth[idx, None]).numpy()  # [468, 3] box units
    nearest = np.argmin(((points[:, None, :] - verts[None]) ** 2).sum(-1), axis=1).astype(np.int32)
    return HeadTemplate(
        vertices=(verts[weld] * METRES_PER_BOX_UNIT).astype(np.float32),
        faces=faces.astype(np.int32),
        uv=uv.astype(np.float32),
        weld=weld.astype(np.int32),
        landmarks=nearest,
        landmark_points=(points * METRES_PER_BOX_UNIT).astype(np.float32),
    )
