"""The canonical constants agree with the synthetic heads the lifter is trained on."""

import numpy as np
import torch

from backend.face.canonical import EYE_MIDPOINT, INTEROCULAR
from backend.face.detect import FaceDetector
from backend.render.cameras import DEFAULT_FOCAL, DEFAULT_PIVOT, DEFAULT_RADIUS, intrinsics_matrix, orbit_camera
from backend.synth.head import SynthHead
from backend.synth.identity import Identity
from backend.synth.render import render_gt


def test_mediapipe_eye_centres_on_synthetic_heads_match_the_constants():
    size, iods, mids = 256, [], []
    with FaceDetector() as detector:
        for seed in range(100, 112):
            head = SynthHead(Identity.sample(seed))
            rgb = render_gt(
                head, orbit_camera(0.0, 0.0), intrinsics_matrix(batch=1), size, background=torch.tensor([0.3, 0.5, 0.6])
            )["rgb"]
            image = (rgb[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
            boxes = detector.detect(image)
            assert boxes, f"no face detected on synthetic head {seed}"
            lm = detector.landmarks(image, boxes[0])
            right, left = (lm[33, :2] + lm[133, :2]) / 2, (lm[362, :2] + lm[263, :2]) / 2
            z_eye = float(head.keypoints()[:4, 2].mean())
            depth = DEFAULT_RADIUS + DEFAULT_PIVOT[2] - z_eye
            px_per_unit = DEFAULT_FOCAL * size / depth
            iods.append(np.linalg.norm(left - right) / px_per_unit)
            mid = (left + right) / 2
            mids.append(
                ((mid[0] / size - 0.5) * depth / DEFAULT_FOCAL, -(mid[1] / size - 0.5) * depth / DEFAULT_FOCAL, z_eye)
            )
    assert abs(np.mean(iods) - INTEROCULAR) / INTEROCULAR < 0.06
    assert np.abs(np.mean(mids, axis=0) - np.array(EYE_MIDPOINT)).max() < 0.012
