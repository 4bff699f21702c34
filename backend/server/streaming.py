"""Frames out to the clients that fetch them, under credit and under a memory bound.

Per (client, job): the next frame to send and how many more frames the client has room for (FETCH gives
the first credit, CREDIT adds more). Per client: the frames sent that it has not given credit back for
(in flight: in the socket's pipe, on the network or in the client's queue), with their sizes. A FETCH's
credit is what the client has room for less what is still in flight to it, so FETCHing again and again
without reading sends nothing more; and frames go out only while the bytes in flight stay under
`max_client_bytes` per client and `max_total_bytes` over all clients (one frame always may go to a client
with nothing in flight). A frame the socket or a bound holds back stays unsent and goes out on a later
pump; frames are never dropped."""

import collections
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
    topology: int | None = None
    """The seq of the tracked topology (faces and UVs) this stream has sent."""


@dataclass
class Peer:
    """One client's frames in flight and when it was last heard from."""

    in_flight: dict = field(default_factory=lambda: collections.defaultdict(collections.deque))
    """job id -> sizes in bytes of the frames sent, oldest first, that the client has not credited back."""
    bytes: int = 0
    """Sum of `in_flight`."""
    last_seen: float = field(default_factory=time.monotonic)
    """When the client was last heard from (monotonic seconds)."""


class Streams:
    """Every client's fetches. `send` is the socket's non-blocking send (see `Send`); the bounds are in bytes."""

    def __init__(self, send: Send, max_client_bytes: int = 128 << 20, max_total_bytes: int = 1 << 30):
        self._send = send
        self.max_client_bytes, self.max_total_bytes = max_client_bytes, max_total_bytes
        self.subs: dict[tuple[bytes, str], Subscription] = {}
        self.clients: dict[bytes, Peer] = {}
        self.total_bytes = 0

    def _peer(self, peer: bytes) -> Peer:
        return self.clients.setdefault(peer, Peer())

    def fetch(self, peer: bytes, job_id: str, from_seq: int, credit: int) -> None:
        """Start (or restart) sending `job_id`'s frames to `peer` from `from_seq`: room for `credit` frames,
        less those of this job still in flight to it."""
        in_flight = len(self._peer(peer).in_flight.get(job_id, ()))
        self.subs[(peer, job_id)] = Subscription(from_seq, max(0, credit - in_flight))

    def add_credit(self, peer: bytes, job_id: str, credit: int) -> None:
        """The client took `credit` frames off its queue: they are no longer in flight, and it has room for
        as many more (capped at the protocol's maximum). `Refused` when it neither fetches nor had frames
        of the job in flight (a CREDIT just after the stream closed is taken quietly)."""
        client = self._peer(peer)
        queue = client.in_flight.get(job_id)
        released = 0
        while queue and released < credit:
            size = queue.popleft()
            client.bytes -= size
            self.total_bytes -= size
            released += 1
        if queue is not None and not queue:
            del client.in_flight[job_id]
        sub = self.subs.get((peer, job_id))
        if sub is None:
            if released:
                return
            raise Refused("not_subscribed", f"CREDIT for job {job_id}, which this connection is not fetching: FETCH")
        sub.credit = min(P.MAX_CREDIT, sub.credit + credit)

    def end(self, peer: bytes, job_id: str) -> None:
        """Stop sending `job_id` to `peer` (its frames in flight stay counted until credited back)."""
        self.subs.pop((peer, job_id), None)

    def seen(self, peer: bytes) -> None:
        """The peer was heard from (it keeps its fetches alive)."""
        client = self.clients.get(peer)
        if client is not None:
            client.last_seen = time.monotonic()

    def drop_peer(self, peer: bytes) -> None:
        """Forget every fetch of a peer that is gone, and what was in flight to it."""
        for key in [k for k in self.subs if k[0] == peer]:
            del self.subs[key]
        client = self.clients.pop(peer, None)
        if client is not None:
            self.total_bytes -= client.bytes

    def peers(self, job_id: str | None = None) -> list[bytes]:
        """The peers fetching `job_id` (None: every peer that fetches or has frames in flight)."""
        if job_id is None:
            return list(dict.fromkeys([*(p for p, _ in self.subs), *self.clients]))
        return list(dict.fromkeys(p for (p, j) in self.subs if j == job_id))

    def jobs(self) -> set[str]:
        """The jobs someone is fetching."""
        return {j for (_, j) in self.subs}

    def expire(self, timeout_s: float) -> None:
        """Forget the peers not heard from for `timeout_s` seconds (they can FETCH again to resume)."""
        now = time.monotonic()
        for peer in [p for p, c in self.clients.items() if now - c.last_seen > timeout_s]:
            self.drop_peer(peer)

    def _room(self, client: Peer, size: int) -> bool:
        if client.bytes == 0:
            return True
        return client.bytes + size <= self.max_client_bytes and self.total_bytes + size <= self.max_total_bytes

    def pump(self, job, read_frame: Callable[[int], tuple[dict, list]], final: Callable[[], list]) -> None:
        """Send `job`'s stored frames (0 .. `job.frames_done` - 1, `read_frame(seq) -> (header, buffers)`)
        to its fetchers as far as their credit and the memory bounds go; once a finished job's last frame
        is out, its closing message (`final()`, DONE or ERROR) and the fetch ends."""
        for (peer, job_id), sub in list(self.subs.items()):
            if job_id != job.id:
                continue
            client = self._peer(peer)
            while sub.credit > 0 and sub.next_seq < job.frames_done:
                header, buffers = read_frame(sub.next_seq)
                shared = header.get("topology")
                if shared is not None and shared != sub.topology and shared != sub.next_seq:
                    header, buffers = with_topology(header, buffers, read_frame(shared))
                size = sum(memoryview(b).nbytes for b in buffers)
                if not self._room(client, size):
                    break
                if not self._send(peer, P.encode("FRAME", header, buffers, validate=False)):
                    break  # the pipe is full (the frame goes on a later pump) or the peer is gone
                client.in_flight[job_id].append(size)
                client.bytes += size
                self.total_bytes += size
                sub.next_seq += 1
                sub.credit -= 1
                sub.topology = shared if shared is not None else sub.topology
            if (peer, job_id) in self.subs and job.state in P.FINAL_STATES and sub.next_seq >= job.frames_done:
                if self._send(peer, final()) is not False:
                    self.subs.pop((peer, job_id), None)


def with_topology(header: dict, buffers: list, source: tuple[dict, list]) -> tuple[dict, list]:
    """A tracked frame (`header`, `buffers`) with the faces and UVs of the frame it names in `topology`
    (`source`: that frame's stored header and buffers) added, for a stream that has not had them yet."""
    names = [d["name"] for d in source[0]["buffers"]]
    shared = [i for i, name in enumerate(names) if name in P.TOPOLOGY_BUFFERS]
    return ({**header, "buffers": [*header["buffers"], *(source[0]["buffers"][i] for i in shared)]},
            [*buffers, *(source[1][i] for i in shared)])  # fmt: skip
