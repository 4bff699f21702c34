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
