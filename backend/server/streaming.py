"""Frames out to the clients that fetch them, under credit: per (client, job) the next frame to send and
how many more frames the client has room for (FETCH gives the first credit, CREDIT adds more). A frame
the socket cannot take now stays unsent and goes out on the next pump; frames are never dropped."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from backend.server.security import Refused
from headfuse_wire import protocol as P

Send = Callable[[bytes, list], "bool | None"]
"""`send(peer, frames) -> True sent, False the peer's pipe is full (try later), None the peer is gone`."""


@dataclass
class Subscription:
    """One client fetching one job's frames."""

    next_seq: int
    """The next frame to send."""
    credit: int
    """Frames the client still has room for."""
    last_seen: float = field(default_factory=time.monotonic)
    """When the client was last heard from."""


class Streams:
    """Every client's fetches. `send` is the socket's non-blocking send (see `Send`)."""

    def __init__(self, send: Send):
        self._send = send
        self.subs: dict[tuple[bytes, str], Subscription] = {}

    def fetch(self, peer: bytes, job_id: str, from_seq: int, credit: int) -> None:
        """Start (or restart) sending `job_id`'s frames to `peer` from `from_seq` with `credit`."""
        self.subs[(peer, job_id)] = Subscription(from_seq, credit)

    def add_credit(self, peer: bytes, job_id: str, credit: int) -> None:
        """Room for `credit` more frames (capped at the protocol's maximum); `Refused` when not fetching."""
        sub = self.subs.get((peer, job_id))
        if sub is None:
            raise Refused("not_subscribed", f"CREDIT for job {job_id}, which this connection is not fetching: FETCH")
        sub.credit = min(P.MAX_CREDIT, sub.credit + credit)

    def seen(self, peer: bytes) -> None:
        """The peer was heard from (it keeps its fetches alive)."""
        now = time.monotonic()
        for key, sub in self.subs.items():
            if key[0] == peer:
                sub.last_seen = now

    def drop_peer(self, peer: bytes) -> None:
        """Forget every fetch of a peer that is gone."""
        for key in [k for k in self.subs if k[0] == peer]:
            del self.subs[key]

    def peers(self, job_id: str | None = None) -> list[bytes]:
        """The peers fetching `job_id` (None: any job)."""
        return list(dict.fromkeys(p for (p, j) in self.subs if job_id is None or j == job_id))

    def jobs(self) -> set[str]:
        """The jobs someone is fetching."""
        return {j for (_, j) in self.subs}

    def expire(self, timeout_s: float) -> None:
        """Forget the fetches of peers not heard from for `timeout_s` seconds."""
        now = time.monotonic()
        for key in [k for k, s in self.subs.items() if now - s.last_seen > timeout_s]:
            del self.subs[key]

    def pump(self, job, read_frame: Callable[[int], tuple[dict, list]], final: Callable[[], list]) -> None:
        """Send `job`'s stored frames (0 .. `job.frames_done` - 1, `read_frame(seq) -> (header, buffers)`)
        to its fetchers as far as their credit goes; once a finished job's last frame is out, its closing
        message (`final()`, DONE or ERROR) and the fetch ends."""
        for (peer, job_id), sub in list(self.subs.items()):
            if job_id != job.id:
                continue
            while sub.credit > 0 and sub.next_seq < job.frames_done:
                header, buffers = read_frame(sub.next_seq)
                if not self._send(peer, P.encode("FRAME", header, buffers, validate=False)):
                    break
                sub.next_seq += 1
                sub.credit -= 1
            if (peer, job_id) in self.subs and job.state in P.FINAL_STATES and sub.next_seq >= job.frames_done:
                if self._send(peer, final()) is not False:
                    self.subs.pop((peer, job_id), None)
