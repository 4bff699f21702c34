"""Lift the frames of a rendered clip the way the pipeline lifts footage (for training caches and evaluation).

The frames go through the face preprocessor as one clip (MediaPipe, the pose solve against the
reference, smoothing, holds), and each usable frame is lifted from its crop, its face mesh and its
solved camera (`lifter.lift_face`). A frame the preprocessor skips is lifted from the frame itself
with the camera it was rendered with (known for synthetic clips only) and the reference's template
projected by that camera; `skipped` counts them.
"""

from dataclasses import dataclass

import numpy as np
import torch

from backend.face.config import FaceConfig
from backend.face.preprocess import FacePreprocessor, FaceResult
from backend.models.lifter import Lifter, lift_face


@dataclass
class LiftedClip:
    """One clip's triplanes."""

    planes: torch.Tensor
    """`[T, 3, C, P, P]`, one per frame."""
    prior: torch.Tensor
    """`[1, 3, C, P, P]`: the reference lifted."""
    skipped: list[int]
    """Frames the preprocessor skipped (lifted from their render camera instead)."""


@torch.no_grad()
def lift_clip(
    lifter: Lifter, frames: np.ndarray, reference: np.ndarray, c2w: np.ndarray, K: np.ndarray, fps: float = 12.0
) -> LiftedClip:
    """`frames [T, S, S, 3]` uint8 of one clip, its `reference [S, S, 3]` uint8, the cameras the frames were
    rendered with `c2w [T, 4, 4]`, normalized `K [T, 3, 3]` (for skipped frames) -> `LiftedClip`."""
    size = frames.shape[1]
    with FacePreprocessor(reference, FaceConfig(crop_size=size, identity=False), fps=fps) as pre:
        template = pre.template.points
        prior = lift_face(lifter, pre.reference_result, template)
        planes, skipped = [], []
        for t, face in enumerate(pre.process(list(frames))):
            if not face.usable:
                skipped.append(t)
                face = FaceResult(t, "held", "rendered camera", crop=frames[t], cam2world=c2w[t], intrinsics=K[t])
            planes.append(lift_face(lifter, face, template))
    return LiftedClip(torch.cat(planes), prior, skipped)
