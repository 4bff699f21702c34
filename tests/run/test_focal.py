"""A known focal length (`focal_px`) is the plate camera's, in every frame's camera record; without it,
the longer image side is the guess."""

import numpy as np

from backend.models.weights import load_networks
from backend.run.task import WorkTask, run_task
from backend.synth import SAMPLE_CLIP_DIR


class Cameras:
    def __init__(self):
        self.K = []

    def start(self, source):
        pass

    def write(self, out, seq):
        self.K.append(np.asarray(out.camera["source_intrinsics"]))


def test_the_plate_camera_takes_a_known_focal_length():
    networks = load_networks(None, None, "cpu")
    found = {}
    for focal in (None, 500):
        sink = Cameras()
        options = {"mode": "per-frame", "mesh_resolution": 32, "texture": "field", "texture_size": 0, "stop": 2,
                   "focal_px": focal}  # fmt: skip
        run_task(WorkTask("j", str(SAMPLE_CLIP_DIR / "video.mp4"), str(SAMPLE_CLIP_DIR / "reference.png"), options),
                 sink, networks, lambda e: None, lambda: False)  # fmt: skip
        found[focal] = [float(K[0, 0]) for K in sink.K]
    assert found[500] == [500.0, 500.0] and found[None] == [256.0, 256.0]  # the sample clip is 256 px
