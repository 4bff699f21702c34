"""The inference server end to end over real sockets: jobs, streaming with credits, resume, cancel, bad input."""

import io
import threading
import time

import numpy as np
import pytest
import zmq
from PIL import Image

from headfuse_wire import protocol as P
from headfuse_wire.client import Client, RemoteError, frame_digest
from tests.server.conftest import FAST


def _client(server, **kw) -> Client:
    kw.setdefault("timeout", 10.0)
    return Client(server.endpoint, **kw)


def test_end_to_end_job(server, clip):
    with _client(server) as c:
        hello = c.hello()
        assert hello["version"] == P.PROTOCOL_VERSION and "credits" in hello["capabilities"]
        progress = []
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 3, "name": "e2e"})
        frames = list(c.frames(job, on_progress=progress.append))
        assert [f.seq for f in frames] == [0, 1, 2] and [f.index for f in frames] == [0, 1, 2]
        for f in frames:
            assert frame_digest(f) == f.digest
            if f.status == "skipped":
                continue
            assert f.vertices.dtype == np.float32 and f.vertices.shape[1] == 3
            assert f.faces.dtype == np.int32 and f.faces.max() < len(f.vertices)
            assert f.colors.shape == f.vertices.shape and f.uv.shape == (len(f.vertices), 2)
            assert Image.open(io.BytesIO(f.texture_png)).size == (64, 64) == f.texture_shape[:2]
            assert np.asarray(f.camera["head_pose"]).shape == (4, 4)
        assert any(f.status != "skipped" for f in frames)
        rec = c.status(job)
        assert rec["state"] == "done" and rec["frames_done"] == 3 and rec["name"] == "e2e"
        assert progress and progress[-1]["job"] == job
        assert job in [r["job"] for r in c.list_jobs()]
        again = list(c.frames(job, start=1))  # FETCH re-sends stored frames, byte for byte
        assert [f.digest for f in again] == [f.digest for f in frames[1:]]


def test_frames_carry_their_triplane_on_request(server, clip):
    with _client(server) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 1, "triplanes": True})
        frame = next(iter(c.frames(job)))
        assert frame.status == "ok" and frame.metres_per_box_unit == pytest.approx(0.43)
        t = frame.triplane
        assert t["planes"].dtype == np.float16 and t["planes"].shape == (3, 24, 64, 64)
        assert t["w1"].shape == (64, 24) and t["b1"].shape == (64,) and t["w2"].shape == (17, 64)
        assert np.isfinite(t["planes"].astype(np.float32)).all()
        plain = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 1})
        assert next(iter(c.frames(plain))).triplane is None  # off unless asked: frames stay small


def test_frames_carry_their_matte_on_request(server, clip):
    import io

    from PIL import Image

    with _client(server) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 2, "mattes": True})
        frames = list(c.frames(job))
        assert len(frames) == 2 and all(f.matte_png is not None for f in frames)
        matte = np.asarray(Image.open(io.BytesIO(frames[0].matte_png)))
        assert matte.shape == (128, 128) and matte[40:88, 40:88].mean() > 128  # the clip is 128 px, the head central
        plain = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 1})
        assert next(iter(c.frames(plain))).matte_png is None


def test_reference_taken_from_a_video_frame(server, clip):
    with _client(server) as c:
        job = c.submit(clip / "video.mp4", clip / "video.mp4", {**FAST, "stop": 2, "reference_frame": 0})
        frames = list(c.frames(job))
        assert [f.index for f in frames] == [0, 1] and frames[0].status == "ok"
        bad = c.submit(clip / "video.mp4", clip / "video.mp4", {**FAST, "stop": 2, "reference_frame": 999})
        with pytest.raises(RemoteError, match="reference frame 999"):
            list(c.frames(bad))


def test_local_path_shortcut_only_inside_allowed_folders(server, clip, tmp_path):
    with _client(server) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 1}, local_paths=True)
        assert [f.seq for f in c.frames(job)] == [0]
        outside = tmp_path / "video.mp4"
        outside.write_bytes((clip / "video.mp4").read_bytes())
        with pytest.raises(RemoteError) as err:
            c.submit(outside, clip / "reference.png", FAST, local_paths=True)
        assert err.value.code == "path_not_allowed" and "outside" in err.value.message
        with pytest.raises(RemoteError) as err:  # a symlink does not get around the check
            link = clip / "escape.mp4"
            link.symlink_to(outside)
            try:
                c.submit(link, clip / "reference.png", FAST, local_paths=True)
            finally:
                link.unlink()
        assert err.value.code == "path_not_allowed"


@pytest.mark.parametrize(
    "case, code, words",
    [
        ("corrupt_video", "bad_video", "not a readable video"),
        ("reference_not_an_image", "bad_reference", "not a readable image"),
        ("no_face_anywhere", "no_face", "no face"),
        ("too_large", "too_large", "at most"),
    ],
)
def test_bad_input_gets_a_specific_error(server, clip, tmp_path, case, code, words):
    video, reference = clip / "video.mp4", clip / "reference.png"
    if case == "corrupt_video":
        video = tmp_path / "broken.mp4"
        video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    elif case == "reference_not_an_image":
        reference = tmp_path / "ref.png"
        reference.write_text("this is a text file, not an image\n")
    elif case == "no_face_anywhere":
        reference = tmp_path / "grey.png"
        Image.fromarray(np.full((128, 128, 3), 127, np.uint8)).save(reference)
        video = tmp_path / "grey.png"
    elif case == "too_large":
        video = tmp_path / "huge.mp4"
        video.write_bytes(b"\x00" * (2 * 1024 * 1024))  # the server takes at most 1 MiB
    with _client(server) as c:
        with pytest.raises(RemoteError) as err:
            job = c.submit(video, reference, FAST)
            list(c.frames(job))
        assert err.value.code == code and words in err.value.message
        assert "/inputs/" not in err.value.message  # the user's file names, not the server's copies
        if case == "corrupt_video":
            assert "broken.mp4" in err.value.message
        if case != "too_large":
            assert c.status(err.value.job)["state"] == "failed"
        assert c.hello()["version"] == P.PROTOCOL_VERSION  # the server goes on


def test_cancel_stops_the_work_and_frees_the_worker(server, clip):
    with _client(server) as c:
        jobs = [c.submit(clip / "video.mp4", clip / "reference.png", FAST) for _ in range(2)]
        first = next(iter(c.frames(jobs[0], window=1)))
        assert first.seq == 0
        t0 = time.monotonic()
        for job in jobs:
            assert c.cancel(job)["state"] == "cancelled"
        rest = list(c.frames(jobs[0]))  # the stream ends (frames stored before the cancel may come)
        assert all(f.seq >= 0 for f in rest)
        done = c.status(jobs[0])["frames_done"]
        time.sleep(2.0)
        assert c.status(jobs[0])["frames_done"] == done and c.status(jobs[0])["state"] == "cancelled"
        follow = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 1})
        assert [f.seq for f in c.frames(follow)] == [0]
        assert time.monotonic() - t0 < 30


def test_slow_consumer_loses_nothing(server, clip):
    with _client(server) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 4})
        c.wait(job, timeout=120)  # every frame is ready: only credits hold the stream back
        raw = zmq.Context.instance().socket(zmq.DEALER)
        raw.connect(server.endpoint)
        raw.send_multipart(P.encode("FETCH", {"job": job, "from_seq": 0, "credit": 1}))
        got, deadline = [], time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if raw.poll(100):
                msg = P.decode(raw.recv_multipart(copy=False))
                if msg.type == "FRAME":
                    got.append(msg.header["seq"])
        assert got == [0]  # one credit, one frame: the server never sends beyond the credit
        raw.close(linger=0)
        seen = []
        for f in c.frames(job, window=1):
            seen.append(f)
            time.sleep(0.3)
        assert [f.seq for f in seen] == [0, 1, 2, 3]
        assert all(frame_digest(f) == f.digest for f in seen)


def test_client_disconnect_and_resume(server, clip):
    with _client(server) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "stop": 4})
        stream = c.frames(job, window=2)
        head = [next(stream), next(stream)]
        stream.close()
    with _client(server) as c:  # a new connection picks up where the last one stopped
        tail = list(c.frames(job, start=head[-1].seq + 1))
        full = list(c.frames(job))
    assert [f.seq for f in head + tail] == [0, 1, 2, 3]
    assert [f.digest for f in head + tail] == [f.digest for f in full]


def test_eight_concurrent_clients_with_their_own_jobs(server, clip):
    results: dict[int, list] = {}
    errors: list = []

    def one(i: int) -> None:
        try:
            with _client(server, timeout=30) as c:
                job = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "start": i % 3, "stop": i % 3 + 1})
                results[i] = [(f.job, f.seq, f.index) for f in c.frames(job)]
        except Exception as exc:  # reported below with the client number
            errors.append((i, exc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    assert len({r[0][0] for r in results.values()}) == 8  # eight distinct jobs
    for i, frames in results.items():
        assert [(s, idx) for _, s, idx in frames] == [(0, i % 3)]
