"""Texture benchmark: the projected texture at 1024 px (the default) against the field bake at 512 px
(the default before it), per frame, on a lifted frame of the sample clip at mesh 128^3.

`projected_1024_vs_field_512` = projected ms / field-bake ms (at most 1 is the goal); the field bake at
1024 is reported beside it. Only the texture stage is timed (the mesh is the same for all three).
"""

import numpy as np
import torch

from backend.config import MeshConfig
from backend.face.preprocess import FacePreprocessor
from backend.mesh import mesh_from_field
from backend.mesh.projection import TextureBlender
from backend.models.lifter import lift_face
from backend.models.weights import load_lifter
from backend.pipeline import photo_view
from backend.synth import SAMPLE_CLIP_DIR
from backend.video import open_video


def run(args) -> dict:
    repeats = 1 if args.quick else 3
    lifter = load_lifter()
    with FacePreprocessor(str(SAMPLE_CLIP_DIR / "reference.png")) as pre:
        face = next(pre.process(open_video(SAMPLE_CLIP_DIR / "video.mp4").frames(0, 1)))
        with torch.no_grad():
            field = lifter.field(lift_face(lifter, face, pre.template.points))
        reference = pre.reference_result
    blender = TextureBlender(photo_view(reference, "the reference image"))
    frame = photo_view(face, "frame 0 of the sample clip")

    def texture_ms(size: int, projected: bool) -> tuple[float, np.ndarray]:
        def once():
            timings: dict = {}
            texturer = blender.texturer(frame) if projected else None
            mesh = mesh_from_field(field, MeshConfig(resolution=128, texture_size=size), timings, texturer)
            return timings["texture"], mesh

        runs = [once() for _ in range(repeats)]
        return float(np.median([r[0] for r in runs])), runs[-1][1]

    field_512, mesh = texture_ms(512, False)
    field_1024, _ = texture_ms(1024, False)
    projected_1024, _ = texture_ms(1024, True)
    return {
        "faces": int(mesh.faces.shape[0]),
        "field_512_ms": round(field_512, 1),
        "field_1024_ms": round(field_1024, 1),
        "projected_1024_ms": round(projected_1024, 1),
        "projected_1024_vs_field_512": round(projected_1024 / field_512, 3),
        "projected_1024_vs_field_1024": round(projected_1024 / field_1024, 3),
        "shares_1024": blender.info,
    }
