"""Where a face sits in the canonical head frame: the one place for these constants.

The canonical head frame is EG3D's world (y up, the face looking towards +z, the head inside the
box [-0.5, 0.5]^3, box units; `backend.units` maps them to metres). For a clip, the reference
image's own face-mesh landmarks give the 3D shape of the template (`pose.build_template`); these
constants place and scale that shape in the frame: the midpoint between the two eye centres
(each eye's centre = the midpoint of its two corners) goes to `eye_midpoint`, and the distance
between the eye centres becomes `interocular`.

The defaults are calibrated on the synthetic heads the lifter is trained on, so that a crop of
a real face frames it the way the training renders frame theirs: MediaPipe's eye centres on
frontal renders (canonical camera, 256 px) of 12 synthetic identities (seeds 100-111), lifted to
the eyes' depth, measured 0.140 box units apart (MediaPipe puts the eye corners about 6 % closer
together than the generator's own eye-corner keypoints) with their midpoint at (0, 0.016, 0.262).
`tests/face/test_canonical_calibration.py` repeats the measurement and holds the constants to it.
"""

from dataclasses import dataclass

import numpy as np

from ..render.cameras import DEFAULT_FOCAL, DEFAULT_PIVOT, DEFAULT_RADIUS

INTEROCULAR = 0.140
"""Distance between the two eye centres in box units (0.060 m with `units.METRES_PER_BOX_UNIT`)."""
EYE_MIDPOINT = (0.0, 0.016, 0.262)
"""Midpoint between the eye centres in the canonical frame (box units)."""


@dataclass(frozen=True)
class CanonicalFace:
    """Placement of the face template in the canonical frame and the canonical camera."""

    interocular: float = INTEROCULAR
    """Distance between the eye centres (box units)."""
    eye_midpoint: tuple[float, float, float] = EYE_MIDPOINT
    """Midpoint between the eye centres (box units)."""
    radius: float = DEFAULT_RADIUS
    """Distance of the canonical camera from the pivot (box units)."""
    pivot: tuple[float, float, float] = DEFAULT_PIVOT
    """Point the canonical camera looks at; it projects to the centre of the aligned crop."""
    focal: float = DEFAULT_FOCAL
    """Normalized focal length of the canonical camera (units of the crop side)."""

    @property
    def frame_span(self) -> float:
        """Side of the canonical crop at the pivot's distance, in box units (radius / focal)."""
        return self.radius / self.focal

    @classmethod
    def from_eye_centres(cls, right_eye, left_eye, **kwargs) -> "CanonicalFace":
        """Constants from 3D eye centres `[3]` (box units, canonical frame), e.g. a synthetic head's keypoints.

        `right_eye` is the subject's right eye (at -x), `left_eye` the left one (at +x).
        """
        right_eye, left_eye = np.asarray(right_eye, float), np.asarray(left_eye, float)
        mid = 0.5 * (right_eye + left_eye)
        return cls(
            interocular=float(np.linalg.norm(left_eye - right_eye)),
            eye_midpoint=(float(mid[0]), float(mid[1]), float(mid[2])),
            **kwargs,
        )


DEFAULT_CANONICAL = CanonicalFace()
"""The constants above as one object; pass another `CanonicalFace` to calibrate."""
