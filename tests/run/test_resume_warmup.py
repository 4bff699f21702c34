"""A job resumed part-way (a restarted server, a batch chunk) starts `RESUME_WARMUP` frames early, so in
fused mode its frames are the ones an uninterrupted run makes."""

import numpy as np

from backend.models.weights import load_networks
from backend.run.task import RESUME_WARMUP, WorkTask, run_task
from backend.synth import SAMPLE_CLIP_DIR

OPTIONS = {"mode": "fused", "mesh_resolution": 32, "texture": "field", "texture_size": 64, "stop": 9}


class Vertices:
    """A sink that keeps each frame's mesh vertices by source index."""

    def __init__(self):
        self.by_index = {}

    def start(self, source):
        pass

    def write(self, out, seq):
        self.by_index[out.index] = out.mesh.vertices.copy()


def run(networks, start: int, warmup: int) -> dict:
    sink = Vertices()
    task = WorkTask("j", str(SAMPLE_CLIP_DIR / "video.mp4"), str(SAMPLE_CLIP_DIR / "reference.png"),
                    {**OPTIONS, "start": start}, first_seq=start, warmup=warmup)  # fmt: skip
    run_task(task, sink, networks, lambda event: None, lambda: False)
    return sink.by_index


def test_a_resumed_fused_run_matches_an_uninterrupted_one():
    start = 5
    networks = load_networks(None, None, "cpu")
    whole, resumed = run(networks, 0, 0), run(networks, start, RESUME_WARMUP)
    assert sorted(resumed) == list(range(start, OPTIONS["stop"]))
    for i in resumed:
        assert resumed[i].shape == whole[i].shape
        gap_mm = float(np.abs(resumed[i] - whole[i]).mean()) * 1000
        assert gap_mm < 0.05, f"frame {i}: {gap_mm:.3f} mm from the uninterrupted run"  # cold start: ~1.7 mm
