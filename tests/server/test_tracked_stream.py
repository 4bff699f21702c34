"""A tracked job over real sockets: its frames share one set of faces and UVs, which the store keeps once and
each stream sends once; the client gives every frame its mesh whole."""

import numpy as np

from backend.execution.store import JobStore
from headfuse_wire.client import Client
from tests.server.conftest import FAST


def test_a_tracked_job_sends_faces_and_uvs_once_and_every_frame_comes_out_whole(server, clip):
    with Client(server.endpoint, timeout=10.0) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 4, "topology": "tracked"})
        frames = [f for f in c.frames(job) if f.vertices is not None]
        assert len(frames) >= 3
        for f in frames:  # one mesh whose vertices move
            np.testing.assert_array_equal(f.faces, frames[0].faces)
            np.testing.assert_array_equal(f.uv, frames[0].uv)
            assert f.vertices.shape == frames[0].vertices.shape
        assert not np.allclose(frames[0].vertices, frames[-1].vertices)
        later = [f for f in c.frames(job, start=frames[1].seq) if f.vertices is not None]  # starts past the first
        np.testing.assert_array_equal(later[0].faces, frames[0].faces)
        np.testing.assert_array_equal(later[-1].vertices, frames[-1].vertices)
    store = JobStore(server.store)
    stored = [store.read_frame(job, f.seq)[0] for f in frames]
    names = [{d["name"] for d in h["buffers"]} for h in stored]
    assert {"faces", "uv"} <= names[0] and stored[0]["topology"] == frames[0].seq
    assert all(not {"faces", "uv"} & n and "vertices" in n for n in names[1:])  # only what changes
    assert all(h["topology"] == frames[0].seq for h in stored)
