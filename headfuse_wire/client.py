"""The Python client of the headfuse server: the Blender add-on, pipeline scripts, the benchmarks and the tests use it.

pyzmq and numpy only (no bpy, no backend import). Typical use:

```
with Client("tcp://127.0.0.1:5555") as c:          # curve_keys=DIR for an encrypted server
    info = c.hello()
    job = c.submit("clip.mp4", "ref.png", {"mesh_resolution": 128})
    for frame in c.frames(job):                     # resumes by itself after a disconnect
        frame.vertices, frame.faces, frame.texture_png, frame.camera["head_pose"]
```

Frames are fetched with credits (at most `window` frames in flight), so a slow consumer never
makes the server drop anything; a silent or restarted server is reconnected to and the stream
resumes at the first frame not yet received. Every failure raises one of `ServerUnavailable`
(names the address), `RemoteError` (the server's error code and message) or `ProtocolError`.
"""

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from . import protocol as P
from .protocol import ProtocolError

__all__ = ["Client", "Frame", "RemoteError", "ServerUnavailable", "ProtocolError", "load_client_keys"]


class ServerUnavailable(ConnectionError):
    """No answer from the server at `address` in time."""

    def __init__(self, address: str, message: str):
        super().__init__(message)
        self.address = address


class RemoteError(RuntimeError):
    """An ERROR from the server: `code` (see `protocol.ERROR_CODES`), `message`, `job` and frame `index`."""

    def __init__(self, code: str, message: str, job: str | None = None, index: int | None = None):
        where = f" (job {job}" + (f", frame {index})" if index is not None else ")") if job else ""
        super().__init__(f"{code}: {message}{where}")
        self.code, self.message, self.job, self.index = code, message, job, index


@dataclass
class Frame:
    """One reconstructed frame as the client sees it (arrays are read-only views of the message)."""

    job: str
    """Job id."""
    seq: int
    """Position in the job (0, 1, ...; contiguous, each delivered once)."""
    index: int
    """Source frame index."""
    status: str
    """`ok`, `held` (last good pose reused) or `skipped` (no mesh)."""
    reason: str | None
    """Why the frame was held or skipped."""
    camera: dict | None
    """`cam2world`, `intrinsics`, `source_cam2world`, `source_intrinsics`, `head_pose`, `crop_matrix`
    (nested lists, metres) and `yaw_deg` / `pitch_deg` / `roll_deg`; None when skipped."""
    timings_ms: dict
    """Server-side milliseconds per stage."""
    digest: str
    """SHA-256 of the frame's stored buffers (the same every time the frame is served; a tracked frame's
    without the faces and UVs it shares with the frame its header names in `topology`)."""
    cut: bool = False
    """The frame starts a new shot of the source (a cut)."""
    vertices: np.ndarray | None = None
    """float32 [V, 3] metres, canonical head frame."""
    faces: np.ndarray | None = None
    """int32 [F, 3]."""
    colors: np.ndarray | None = None
    """uint8 [V, 3]."""
    uv: np.ndarray | None = None
    """float32 [V, 2]."""
    normals: np.ndarray | None = None
    """float32 [V, 3]."""
    texture_png: bytes | None = None
    """The baked texture as PNG bytes."""
    texture_shape: tuple | None = None
    """(H, W, 3) of the texture."""
    matte_png: bytes | None = None
    """With the job option `mattes`: the frame's person matte (grey PNG, the plate's size; also for a
    frame without a head)."""
    triplane: dict | None = None
    """With the job option `triplanes`: `planes` float16 [3, C, H, W] and the decoder's `w1`, `b1`, `w2`,
    `b2` (float16), for the live preview; None otherwise."""
    metres_per_box_unit: float | None = None
    """The server's scale from the field's box units to the metres of the meshes and poses."""
    topology: int | None = None
    """A tracked job's frame: the seq of the frame whose faces and UVs it shares (None: per-frame)."""


def load_client_keys(folder: str | Path) -> tuple[bytes, bytes, bytes]:
    """(client public, client secret, server public) from a client key folder made by `headfuse keys`:
    `client.key_secret` (or the only `*.key_secret`) and `server.key`."""
    from zmq.auth import load_certificate

    folder = Path(folder)
    secrets = sorted(folder.glob("*.key_secret"))
    chosen = folder / "client.key_secret" if (folder / "client.key_secret").is_file() else None
    if chosen is None and len(secrets) == 1:
        chosen = secrets[0]
    if chosen is None:
        raise FileNotFoundError(f"{folder}: expected client.key_secret (from `headfuse keys`)")
    server_file = folder / "server.key"
    if not server_file.is_file():
        raise FileNotFoundError(f"{folder}: expected server.key, the server's public key (from `headfuse keys`)")
    public, secret = load_certificate(str(chosen))
    server_public, _ = load_certificate(str(server_file))
    if secret is None:
        raise ValueError(f"{chosen} holds no secret key")
    return public, secret, server_public


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Client:
    """A connection to one headfuse server (see the module docstring). Not thread-safe: use one per thread.

    `timeout`: seconds to wait for an answer to a request. `reconnect_timeout`: how long `frames()`
    keeps trying to get a silent or restarted server back before raising `ServerUnavailable`.
    `silence`: seconds without any message (the server sends heartbeats) after which the
    connection counts as lost while fetching. `verify` checks the CRC-32 of every received buffer.
    """

    def __init__(
        self,
        address: str = "tcp://127.0.0.1:5555",
        *,
        curve_keys: str | Path | None = None,
        timeout: float = 10.0,
        reconnect_timeout: float = 60.0,
        silence: float = 5.0,
        max_message_bytes: int = 1 << 30,
        verify: bool = True,
    ):
        self.address = address
        self.timeout = timeout
        self.reconnect_timeout = reconnect_timeout
        self.silence = silence
        self.max_message_bytes = max_message_bytes
        self.verify = verify
        self.server: dict | None = None
        self._keys = load_client_keys(curve_keys) if curve_keys is not None else None
        self._ctx = zmq.Context.instance()
        self._sock: zmq.Socket | None = None
        self._req = 0
        self._connect()

    # ------------------------------------------------------------------ connection

    def _connect(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        if self._keys is not None:
            public, secret, server_public = self._keys
            sock.curve_publickey, sock.curve_secretkey, sock.curve_serverkey = public, secret, server_public
        sock.connect(self.address)
        self._sock = sock

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _send(self, mtype: str, header: dict, buffers=()) -> int:
        self._req += 1
        if mtype != "CREDIT":
            header = {"req": self._req, **header}
        self._sock.send_multipart(P.encode(mtype, header, buffers), copy=False)
        return self._req

    def _recv(self, timeout: float) -> P.Message | None:
        if not self._sock.poll(int(max(0.0, timeout) * 1000)):
            return None
        frames = self._sock.recv_multipart(copy=False)
        return P.decode(frames, allowed=P.SERVER_TYPES, verify=self.verify)

    def _unavailable(self, what: str, waited: float) -> ServerUnavailable:
        hint = " (or it refused this client's CURVE key)" if self._keys is not None else ""
        return ServerUnavailable(
            self.address,
            f"no answer from the headfuse server at {self.address} to {what} within {waited:.0f} s: "
            f"is `headfuse serve` running there{hint}?",
        )

    def _request(self, mtype: str, header: dict, expect: tuple, buffers=(), timeout: float | None = None) -> P.Message:
        """Send a request and wait for the reply carrying its `req` (other messages are skipped)."""
        timeout = self.timeout if timeout is None else timeout
        req = self._send(mtype, header, buffers)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._recv(deadline - time.monotonic())
            if msg is None:
                raise self._unavailable(mtype, timeout)
            if msg.header.get("req") != req:
                continue
            if msg.type == "ERROR":
                h = msg.header
                raise RemoteError(h["code"], h["message"], h.get("job"), h.get("index"))
            if msg.type not in expect:
                raise ProtocolError("bad_message", f"{mtype} was answered by {msg.type}, expected {', '.join(expect)}")
            return msg

    # ------------------------------------------------------------------ requests

    def hello(self) -> dict:
        """Handshake: the server's version, capabilities and limits (a version mismatch raises RemoteError)."""
        header = {"version": P.PROTOCOL_VERSION, "capabilities": list(P.CAPABILITIES), "agent": "headfuse-client"}
        self.server = self._request("HELLO", header, ("HELLO",)).header
        return self.server

    def submit(
        self,
        video: str | Path,
        reference: str | Path,
        options: dict | None = None,
        *,
        local_paths: bool = False,
        on_upload: Callable[[str, int, int], None] | None = None,
        window: int = 4,
    ) -> str:
        """Submit a job and return its id. The files are uploaded in chunks (`on_upload(name, sent, size)`
        reports progress) unless `local_paths` asks the server to read them where they are (it must
        share the filesystem and allow the folder). `options`: mode, mesh_resolution, texture_size,
        no_face, start, stop, stride, name."""
        if self.server is None:
            self.hello()
        files = {"video": Path(video), "reference": Path(reference)}
        inputs = {}
        for name, path in files.items():
            if local_paths:
                inputs[name] = {"path": os.path.abspath(path)}
                continue
            if not path.is_file():
                raise FileNotFoundError(f"{name} not found: {path}")
            inputs[name] = {"filename": path.name[-200:], "size": path.stat().st_size, "sha256": _sha256(path)}
        accepted = self._request("SUBMIT", {"options": dict(options or {}), "inputs": inputs}, ("ACCEPTED",)).header
        job, chunk = accepted["job"], accepted["chunk_size"]
        for name in accepted["uploads"]:
            self._upload(job, name, files[name], chunk, window, on_upload)
        return job

    def _upload(self, job: str, name: str, path: Path, chunk: int, window: int, on_upload) -> None:
        size = path.stat().st_size
        pending: set[int] = set()
        offset = 0
        with open(path, "rb") as f:
            while offset < size or pending:
                while offset < size and len(pending) < window:
                    data = f.read(chunk)
                    buf = P.describe("chunk", data, "bytes")
                    header = {"job": job, "file": name, "offset": offset, "buffers": [buf]}
                    pending.add(self._send("UPLOAD", header, [data]))
                    offset += len(data)
                msg = self._recv(self.timeout)
                if msg is None:
                    raise self._unavailable("UPLOAD", self.timeout)
                if msg.header.get("req") not in pending:
                    continue
                pending.discard(msg.header["req"])
                if msg.type == "ERROR":
                    h = msg.header
                    raise RemoteError(h["code"], h["message"], h.get("job"), h.get("index"))
                if on_upload is not None:
                    on_upload(name, msg.header["received"], size)

    def status(self, job: str) -> dict:
        """The job's record: state, frames_done, frames_total, ok/held/skipped counts, options, error."""
        return self._request("STATUS", {"job": job}, ("JOB",)).header["record"]

    def list_jobs(self, limit: int = 100) -> list[dict]:
        """The newest `limit` jobs on the server, newest first (JOB_RECORD dicts), fetched page by page:
        the server answers each LIST with what fits in one header and where to go on."""
        records: list[dict] = []
        header: dict = {}
        while len(records) < limit:
            reply = self._request("LIST", {**header, "limit": limit - len(records)}, ("JOBS",)).header
            records += reply["records"]
            if not reply.get("next") or not reply["records"]:
                break
            header = {"after": reply["next"]}
        return records[:limit]

    def cancel(self, job: str) -> dict:
        """Cancel a job (the server stops its work promptly); returns its record."""
        return self._request("CANCEL", {"job": job}, ("JOB",)).header["record"]

    def wait(self, job: str, timeout: float = 600.0, poll: float = 0.2) -> dict:
        """Poll until the job reaches a final state; returns its record."""
        deadline = time.monotonic() + timeout
        while True:
            rec = self.status(job)
            if rec["state"] in P.FINAL_STATES:
                return rec
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} still {rec['state']} after {timeout:.0f} s")
            time.sleep(poll)

    # ------------------------------------------------------------------ frames

    def frames(
        self,
        job: str,
        start: int = 0,
        *,
        window: int = 8,
        on_progress: Callable[[dict], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[Frame]:
        """Yield the job's frames from position `start` in order, each exactly once, as they are finished.

        At most `window` frames are in flight. If the server goes silent (down, restarted, network),
        the client reconnects and resumes from the first frame it has not yielded, for up to
        `reconnect_timeout` seconds. Ends after the last frame of a job that is done or cancelled;
        raises `RemoteError` for a failed job (after yielding every frame it finished). `should_stop()` is
        asked at least once a second; True ends the stream at once (the job goes on on the server).
        """
        window = max(1, min(window, P.MAX_CREDIT))
        expected = start
        fetch_req = self._send("FETCH", {"job": job, "from_seq": expected, "credit": window})
        granted = 0  # frames consumed since the last CREDIT
        topologies: dict[int, dict] = {}  # seq -> the faces and UVs a tracked job's frames share
        last_heard = time.monotonic()
        lost_since: float | None = None
        while True:
            if should_stop is not None and should_stop():
                return
            msg = self._recv(min(1.0, self.silence))
            now = time.monotonic()
            if msg is None:
                if now - last_heard < self.silence:
                    self._send("HEARTBEAT", {})
                    continue
                lost_since = lost_since or last_heard
                if now - lost_since > self.reconnect_timeout:
                    raise self._unavailable("FETCH", now - lost_since)
                fetch_req = self._resume(job, expected, window)
                granted, last_heard = 0, time.monotonic()
                continue
            last_heard, lost_since = now, None
            h = msg.header
            if msg.type == "FRAME" and h["job"] == job:
                if h.get("topology") is not None and "faces" in msg.buffers:
                    topologies[h["topology"]] = {name: msg.array(name) for name in P.TOPOLOGY_BUFFERS}
                if h["seq"] == expected:
                    expected += 1
                    yield _frame_from(msg, topologies)
                granted += 1  # a frame re-sent after a resume is dropped, but its credit is given back
                if granted >= max(1, window // 2):
                    self._send("CREDIT", {"job": job, "credit": granted})
                    granted = 0
            elif msg.type == "PROGRESS" and h["job"] == job:
                if on_progress is not None:
                    on_progress(h)
            elif msg.type == "DONE" and h["job"] == job:
                if h["frames"] <= expected:
                    return
            elif msg.type == "ERROR" and (h.get("job") == job or h.get("req") == fetch_req):
                if h["code"] != "not_subscribed":
                    raise RemoteError(h["code"], h["message"], h.get("job"), h.get("index"))
                # the server forgot this fetch: start it again on this connection; frames taken but not yet
                # credited are still counted in flight there, so `granted` goes back with the next CREDIT
                fetch_req = self._send("FETCH", {"job": job, "from_seq": expected, "credit": window})

    def _resume(self, job: str, expected: int, window: int) -> int | None:
        """A fresh connection (new identity, nothing stale in the pipes), HELLO, then FETCH from `expected`;
        returns the FETCH's request id (None when the server did not answer yet)."""
        self._connect()
        try:
            self.hello()
        except ServerUnavailable:
            return None
        return self._send("FETCH", {"job": job, "from_seq": expected, "credit": window})


def _frame_from(msg: P.Message, topologies: dict[int, dict]) -> Frame:
    h = msg.header
    frame = Frame(
        job=h["job"],
        seq=h["seq"],
        index=h["index"],
        status=h["status"],
        reason=h["reason"],
        camera=h["camera"],
        timings_ms=h["timings_ms"],
        digest=h["digest"],
        cut=bool(h.get("cut", False)),
    )
    for name in ("vertices", "faces", "colors", "uv", "normals"):
        setattr(frame, name, msg.array(name))
    shared = h.get("topology")
    if shared is not None and frame.faces is None:
        if shared not in topologies:
            raise RemoteError("bad_message", f"frame {h['seq']} uses the faces of frame {shared}, which never came",
                              h["job"], h["index"])  # fmt: skip
        for name, arr in topologies[shared].items():
            setattr(frame, name, arr)
    if "texture" in msg.buffers:
        frame.texture_png = bytes(msg.buffers["texture"])
        desc = next(d for d in h["buffers"] if d["name"] == "texture")
        frame.texture_shape = tuple(desc["shape"])
    if "matte" in msg.buffers:
        frame.matte_png = bytes(msg.buffers["matte"])
    if "planes" in msg.buffers:
        frame.triplane = {name: msg.array(name) for name in ("planes", "w1", "b1", "w2", "b2")}
    frame.metres_per_box_unit = h.get("metres_per_box_unit")
    frame.topology = shared
    return frame


def frame_digest(frame: Frame) -> str:
    """The SHA-256 of what the frame carries, in the order the server stored it: equal to `frame.digest` when
    it arrived whole (the faces and UVs a tracked frame shares count only on the frame that carries them)."""
    h = hashlib.sha256()
    shared = frame.topology not in (None, frame.seq)
    for name in ("vertices", "faces", "colors", "uv", "normals"):
        arr = getattr(frame, name)
        if arr is not None and not (shared and name in P.TOPOLOGY_BUFFERS):
            h.update(arr.tobytes())
    for png in (frame.texture_png, frame.matte_png):
        if png is not None:
            h.update(png)
    for name in ("planes", "w1", "b1", "w2", "b2") if frame.triplane is not None else ():
        h.update(frame.triplane[name].tobytes())
    return h.hexdigest()
