"""The lifter: encoder E plus the decoder MLP that turns its planes into a field."""

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from backend.config import EncoderConfig
from backend.face.geometry import crop_landmarks, geometry_channels, project_to_crop
from backend.models.encoder import PixelAlignedEncoder, TriplaneEncoder
from backend.render.decoder import TriplaneDecoder
from backend.render.field import TriplaneField

if TYPE_CHECKING:
    from backend.face.preprocess import FaceResult


class Lifter(nn.Module):
    """images `[B, 3, S, S]` -> triplanes `[B, 3, C, P, P]`; `field(planes)` makes them renderable.

    A `pixel` lifter (`cfg.kind`) also needs the face-mesh `geometry [B, 8, S, S]` (`face.geometry`)
    and the crop's camera, `cam2world [B, 4, 4]` and normalized `intrinsics [B, 3, 3]`; a `global`
    one ignores them."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        if cfg.kind not in ("global", "pixel"):
            raise ValueError(f"unknown lifter kind {cfg.kind!r}: expected 'global' or 'pixel'")
        self.cfg = cfg
        self.encoder = PixelAlignedEncoder(cfg) if cfg.kind == "pixel" else TriplaneEncoder(cfg)
        self.decoder = TriplaneDecoder(cfg.plane_channels, cfg.decoder_hidden, cfg.decoder_features)

    @property
    def needs_geometry(self) -> bool:
        """True when forward needs the face-mesh geometry and the camera."""
        return self.cfg.kind == "pixel"

    def forward(
        self,
        images: torch.Tensor,
        geometry: torch.Tensor | None = None,
        cam2world: torch.Tensor | None = None,
        intrinsics: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Planes `[B, 3, C, P, P]` of `images [B, 3, S, S]` (0..1)."""
        if not self.needs_geometry:
            return self.encoder(images)
        if geometry is None or cam2world is None or intrinsics is None:
            raise ValueError("a pixel-aligned lifter needs the face-mesh geometry and the crop's camera")
        return self.encoder(images, geometry, cam2world, intrinsics)

    def init_from(self, other: "Lifter") -> None:
        """Start from another trained lifter, so that this one starts out computing what `other` does:
        the same kind and sizes are copied; a `global` one becomes a `pixel` lifter's global branch
        (the lifted branch adds nothing until it trains); a single-level `pixel` one starts a two-level
        (`fine_lift_size`) one, the finer level's inputs to the fuse convs at zero."""
        if self.needs_geometry and not other.needs_geometry:
            self.encoder.load_global_branch(other.encoder.state_dict())
        elif self.cfg.fine_lift_size and other.needs_geometry and not other.cfg.fine_lift_size:
            self.encoder.load_single_level(other.encoder.state_dict())
        else:
            self.load_state_dict(other.state_dict())
            return
        self.decoder.load_state_dict(other.decoder.state_dict())

    def field(self, planes: torch.Tensor, reference: bool = False) -> TriplaneField:
        """A field over planes `[B, 3, C, P, P]` decoded by this lifter's decoder."""
        return TriplaneField(planes, self.decoder, reference=reference)


def crop_to_tensor(crop: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """An RGB uint8 crop `[S, S, 3]` -> the lifter's input `[1, 3, size, size]` in 0..1."""
    x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float()[None] / 255.0
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return x.to(device)


def face_inputs(face: "FaceResult", template_points: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """What a lifter reads of a usable frame besides its crop: the face mesh rendered into the crop at
    `size` px (`geometry [8, size, size]`, `face.geometry`) and the crop's solved camera (`cam2world [4, 4]`,
    normalized `intrinsics [3, 3]`). A held frame has no landmarks of its own: the reference's template
    `template_points [478, 3]` projected with the held camera stands in for them."""
    crop_size = face.crop.shape[0]
    if face.landmarks is not None:
        lm = crop_landmarks(face.landmarks, face.crop_matrix) * (size / crop_size)
    else:
        lm = project_to_crop(template_points, face.cam2world, face.intrinsics, size)
    return {
        "geometry": geometry_channels(lm, template_points, size),
        "cam2world": face.cam2world.astype(np.float32),
        "intrinsics": face.intrinsics.astype(np.float32),
    }


@torch.no_grad()
def lift_face(lifter: Lifter, face: "FaceResult", template_points: np.ndarray) -> torch.Tensor:
    """A usable frame's crop (and, for a pixel lifter, its face mesh and camera) -> triplane `[1, 3, C, P, P]`."""
    device = next(lifter.parameters()).device
    image = crop_to_tensor(face.crop, lifter.cfg.image_size, device)
    if not lifter.needs_geometry:
        return lifter(image)
    extra = {
        k: torch.from_numpy(v)[None].to(device)
        for k, v in face_inputs(face, template_points, lifter.cfg.image_size).items()
    }
    return lifter(image, extra["geometry"], extra["cam2world"], extra["intrinsics"])
