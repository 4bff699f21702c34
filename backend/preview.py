"""Contact sheets a person can judge at a glance, one row per frame: the input crop, the field rendered
from the input camera and 60 degrees off it, the shaded mesh, the mesh in the field's colour and with its
texture (projected from the footage, unless the job asked for field textures) from the input camera and
30 degrees off it."""

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from backend.config import RenderConfig
from backend.mesh.preview import colour_mesh, shade_mesh
from backend.render.cameras import intrinsics_matrix, orbit_camera, turn_camera
from backend.render.renderer import render_image
from backend.units import METRES_PER_BOX_UNIT

TILE = 160
LABELS = (
    "input crop", "field, input camera", "field, yaw 60 deg", "mesh, input camera", "mesh, field colour",
    "mesh, texture", "mesh, texture, yaw 30",
)


def _to_box(cam2world_m) -> np.ndarray:
    c = np.array(cam2world_m, dtype=np.float64)
    c[:3, 3] /= METRES_PER_BOX_UNIT
    return c


@torch.no_grad()
def _render(field, cam2world: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    out = render_image(
        field,
        torch.as_tensor(cam2world, dtype=torch.float32)[None],
        torch.as_tensor(intrinsics, dtype=torch.float32)[None],
        TILE,
        RenderConfig(n_coarse=32, n_fine=32, background=1.0),
    )
    return (out["rgb"][0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def contact_sheet_row(frame) -> np.ndarray:
    """One row `[TILE, len(LABELS) * TILE, 3]` uint8 for a `pipeline.FrameOutput` that has a mesh."""
    cam = _to_box(frame.camera["cam2world"])
    K = np.array(frame.camera["intrinsics"], dtype=np.float64)
    crop = np.asarray(Image.fromarray(frame.crop).resize((TILE, TILE), Image.BILINEAR))
    side = orbit_camera(math.radians(60.0))[0].numpy()
    tiles = [
        crop,
        _render(frame.triplane, cam, K),
        _render(frame.triplane, side, intrinsics_matrix().numpy()),
        shade_mesh(frame.mesh, cam, K, TILE),
        colour_mesh(frame.mesh, cam, K, TILE, texture=False),
        colour_mesh(frame.mesh, cam, K, TILE),
        colour_mesh(frame.mesh, turn_camera(cam, 30.0), K, TILE),
    ]
    row = np.concatenate(tiles, axis=1)
    img = Image.fromarray(row)
    ImageDraw.Draw(img).text((4, 4), f"frame {frame.index}", fill=(255, 255, 0))
    return np.asarray(img)


def save_contact_sheet(rows: list[np.ndarray], path: Path) -> Path:
    """Stack rows under a header naming the columns; write PNG."""
    header = Image.new("RGB", (rows[0].shape[1], 18), (30, 30, 30))
    draw = ImageDraw.Draw(header)
    for i, label in enumerate(LABELS):
        draw.text((i * TILE + 4, 3), label, fill=(230, 230, 230))
    sheet = np.concatenate([np.asarray(header)] + rows, axis=0)
    Image.fromarray(sheet).save(path)
    return path
