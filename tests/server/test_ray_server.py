"""`headfuse serve --ray local`: the same protocol, credits and store guarantees with the work on Ray actors,
exercised with the add-on's real client over ZeroMQ on 127.0.0.1."""


from backend.execution.store import JobStore
from headfuse_wire.client import Client, frame_digest
from tests.server.conftest import FAST, ServerProcess


def test_client_sees_no_difference_with_a_ray_backed_server(tmp_path, weights, clip):
    store_dir = tmp_path / "jobs"
    srv = ServerProcess(store_dir, weights, 1, extra=("--ray", "local"))
    try:
        with Client(srv.endpoint, timeout=60, reconnect_timeout=60) as c:
            hello = c.hello()
            assert hello["limits"]["workers"] == 1
            options = {**FAST, "mode": "per-frame", "texture_size": 0}
            job = c.submit(clip / "video.mp4", clip / "reference.png", options)  # uploaded: the actor reads the store
            progress = []
            frames = list(c.frames(job, window=2, on_progress=progress.append))
            record = c.status(job)
            cancelled = c.submit(clip / "video.mp4", clip / "reference.png", options)
            c.cancel(cancelled)
            after_cancel = c.wait(cancelled)
        assert [f.seq for f in frames] == list(range(6)) and [f.index for f in frames] == list(range(6))
        assert all(f.status in ("ok", "held") and f.vertices.shape[1] == 3 for f in frames)
        assert record["state"] == "done" and record["frames_done"] == 6 and record["frames_total"] == 6
        assert progress and progress[-1]["frames_done"] <= 6
        assert after_cancel["state"] == "cancelled"
        store = JobStore(store_dir)
        for f in frames:  # what arrived is what the actor stored, checksums verified
            header, _ = store.read_frame(job, f.seq, verify=True)
            assert header["digest"] == f.digest == frame_digest(f)
        log = (tmp_path / "jobs-server.log").read_text(errors="replace")
        assert "1 Ray cluster local workers" in log and "Ray worker 0 ready" in log
    finally:
        srv.stop()
