"""`topology` tracked: every frame of a clip is the template fitted to its field, vertex for vertex, with
each frame's fit error in the manifest."""

import numpy as np

from backend.models.weights import load_networks
from backend.run.task import WorkTask, run_task
from backend.synth import SAMPLE_CLIP_DIR
from backend.topology.template import load_head_template


class Frames:
    def __init__(self):
        self.outputs = []

    def start(self, source):
        pass

    def write(self, out, seq):
        self.outputs.append(out)


def test_a_tracked_clip_is_one_mesh_whose_vertices_move():
    sink = Frames()
    options = {"mesh_resolution": 64, "texture": "field", "texture_size": 64, "stop": 3, "topology": "tracked"}
    task = WorkTask("j", str(SAMPLE_CLIP_DIR / "video.mp4"), str(SAMPLE_CLIP_DIR / "reference.png"), options)
    run_task(task, sink, load_networks(None, None, "cpu"), lambda event: None, lambda: False)
    template = load_head_template()
    meshes = [out.mesh for out in sink.outputs]
    assert len(meshes) == 3
    for mesh in meshes:
        np.testing.assert_array_equal(mesh.faces, template.faces)  # the same topology and UVs every frame
        np.testing.assert_array_equal(mesh.uv, template.uv)
        assert mesh.texture.shape == (64, 64, 3)
    assert not np.allclose(meshes[0].vertices, meshes[2].vertices)  # but the vertices move with the head
    errors = [out.fit["error_voxels"] for out in sink.outputs]
    assert all(e is not None and e < 0.5 for e in errors), errors  # the goal (voxels of 64^3)
    assert all("fit" in out.timings_ms for out in sink.outputs)
