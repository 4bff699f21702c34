"""Streaming under credit: no more frames than granted, a full pipe keeps the frame for the next pump, and
the closing message goes once the last frame of a finished job is out."""

import json
from types import SimpleNamespace

import pytest

from backend.server.security import Refused
from backend.server.streaming import Streams


class Pipe:
    """A peer's pipe with room for `room` messages (None: unlimited)."""

    def __init__(self):
        self.sent, self.room = [], None

    def __call__(self, peer, frames):
        if self.room == 0:
            return False
        if self.room is not None:
            self.room -= 1
        self.sent.append((peer, json.loads(frames[0])["type"]))
        return True


def frame(seq):
    header = {"job": "j", "seq": seq, "index": seq, "status": "ok", "reason": None, "camera": None,
              "timings_ms": {}, "metres_per_box_unit": 0.43, "buffers": [], "digest": "0" * 8}
    return header, []


def test_credit_bounds_frames_a_full_pipe_waits_and_done_closes_the_stream():
    pipe = Pipe()
    streams = Streams(pipe)
    job = SimpleNamespace(id="j", frames_done=5, state="running")
    streams.fetch(b"a", "j", 0, 2)
    streams.pump(job, frame, lambda: [])
    assert [t for _, t in pipe.sent] == ["FRAME", "FRAME"]
    pipe.room = 1
    streams.add_credit(b"a", "j", 10)
    streams.pump(job, frame, lambda: [])
    assert len(pipe.sent) == 3 and streams.subs[(b"a", "j")].next_seq == 3  # the rest waits for room
    pipe.room, job.state = None, "done"
    done = [json.dumps({"type": "DONE"}).encode()]
    streams.pump(job, frame, lambda: done)
    assert [t for _, t in pipe.sent][3:] == ["FRAME", "FRAME", "DONE"] and not streams.subs


def test_credit_without_a_fetch_is_refused_and_a_gone_peer_is_forgotten():
    streams = Streams(Pipe())
    with pytest.raises(Refused, match="FETCH") as err:
        streams.add_credit(b"a", "j", 1)
    assert err.value.code == "not_subscribed"
    streams.fetch(b"a", "j", 0, 1)
    streams.fetch(b"b", "j", 0, 1)
    streams.drop_peer(b"a")
    assert streams.peers("j") == [b"b"] and streams.jobs() == {"j"}
    streams.expire(-1.0)
    assert not streams.subs


def sized_frame(seq, nbytes=1000):
    header, _ = frame(seq)
    return header, [b"\0" * nbytes]


def test_fetching_again_without_reading_sends_nothing_more():
    pipe = Pipe()
    streams = Streams(pipe)
    job = SimpleNamespace(id="j", frames_done=50, state="done")
    for _ in range(100):  # a client that FETCHes over and over and never reads
        streams.fetch(b"a", "j", 0, 8)
        streams.pump(job, sized_frame, lambda: [])
    assert len(pipe.sent) == 8 and streams.total_bytes == 8000
    streams.add_credit(b"a", "j", 4)  # it took 4 off its queue: 4 more may go
    streams.pump(job, sized_frame, lambda: [])
    assert len(pipe.sent) == 12 and streams.clients[b"a"].bytes == 8000


def test_bytes_in_flight_are_bounded_per_client_and_in_total_and_freed_when_a_peer_goes():
    pipe = Pipe()
    streams = Streams(pipe, max_client_bytes=3000, max_total_bytes=5000)
    job = SimpleNamespace(id="j", frames_done=50, state="running")
    for peer in (b"a", b"b", b"c"):
        streams.fetch(peer, "j", 0, 100)
    streams.pump(job, sized_frame, lambda: [])
    sent = [p for p, _ in pipe.sent]
    assert sent.count(b"a") == 3 and sent.count(b"b") == 2  # 3000 per client, then 5000 in all
    assert sent.count(b"c") == 1  # a client with nothing in flight always gets one frame
    streams.drop_peer(b"a")
    assert streams.total_bytes == 3000
    streams.pump(job, sized_frame, lambda: [])  # the room a's bytes left goes to b, then c
    sent = [p for p, _ in pipe.sent]
    assert sent.count(b"b") == 3 and sent.count(b"c") == 2 and streams.total_bytes == 5000


def test_a_credit_just_after_the_stream_closed_is_taken_quietly():
    pipe = Pipe()
    streams = Streams(pipe)
    job = SimpleNamespace(id="j", frames_done=2, state="done")
    streams.fetch(b"a", "j", 0, 8)
    streams.pump(job, sized_frame, lambda: [json.dumps({"type": "DONE"}).encode()])
    assert [t for _, t in pipe.sent] == ["FRAME", "FRAME", "DONE"] and not streams.subs
    streams.add_credit(b"a", "j", 2)
    assert streams.total_bytes == 0
    with pytest.raises(Refused):
        streams.add_credit(b"a", "j", 2)


class Recorder:
    """A pipe that keeps the buffer names of every FRAME it carries."""

    def __init__(self):
        self.frames = []

    def __call__(self, peer, frames):
        header = json.loads(frames[0])
        self.frames.append((peer, header["seq"], [d["name"] for d in header["buffers"]]))
        return True


def tracked_frame(seq):
    header, _ = frame(seq)
    names = ["vertices", "faces", "uv"] if seq == 1 else ["vertices"]
    header.update(topology=1, buffers=[{"name": n, "dtype": "uint8", "shape": [1, 1], "nbytes": 1, "crc32": 0}
                                       for n in names])  # fmt: skip
    return header, [b"x"] * len(names)


def test_a_tracked_jobs_faces_go_once_per_stream_also_when_it_starts_past_them():
    pipe = Recorder()
    streams = Streams(pipe)
    job = SimpleNamespace(id="j", frames_done=5, state="running")
    streams.fetch(b"a", "j", 1, 10)
    streams.fetch(b"b", "j", 3, 10)
    streams.pump(job, tracked_frame, lambda: [])
    sent = {p: [(seq, names) for q, seq, names in pipe.frames if q == p] for p in (b"a", b"b")}
    assert sent[b"a"] == [(1, ["vertices", "faces", "uv"]), (2, ["vertices"]), (3, ["vertices"]), (4, ["vertices"])]
    assert sent[b"b"] == [(3, ["vertices", "faces", "uv"]), (4, ["vertices"])]  # frame 1's faces, added once
