"""The ZeroMQ inference server: one ROUTER socket in front of a pool of workers (`backend.execution`: local
processes, or actors on a Ray cluster with `ServerConfig.ray`) and the crash-safe job store.

The server is the broker: one thread (`Server.serve`) polls the socket and the pool, keeps each job's
state (`jobs`), takes its inputs in (`uploads`) and streams stored frames to the clients that fetch them
(`streaming`). Guarantees:

- A frame is announced only after its file is in the store (the worker writes it, then reports).
- Credits: a client fetching a job is sent at most as many FRAMEs as it has granted (FETCH gives
  the first credit, CREDIT adds more). The socket runs with ROUTER_MANDATORY and non-blocking sends,
  so a full pipe raises instead of dropping silently; an unsent frame stays unsent and goes out
  on the next try. Heartbeats and progress messages may be dropped; frames never are.
- A restarted server re-reads the store: finished jobs serve their frames, unfinished ones are
  queued again and resume at their first unfinished frame.
- A malformed, unknown or oversize message is answered by ERROR (or, past ZMQ_MAXMSGSIZE, the peer
  is disconnected by ZeroMQ) and the server goes on.
"""

import errno
import json
import logging
import os
import shutil
import time
from pathlib import Path

import zmq

from backend.execution.store import JobStore, StoreError, storage_message
from backend.run.task import RESUME_WARMUP, WorkTask, no_usable_face
from backend.server.config import ServerConfig
from backend.server.jobs import Job, load_jobs
from backend.server.security import CurveGuard, Refused, exposed
from backend.server.streaming import Streams
from backend.server.uploads import UploadCorrupt, admit, all_received, receive_chunk
from headfuse_wire import protocol as P

log = logging.getLogger("headfuse.server")


class StartError(RuntimeError):
    """The server cannot start (the address, the workers): one line saying why."""

class Server:
    """The inference server (see the module docstring). `start()` binds and spawns the workers,
    `serve()` runs until `stop()` (or a signal handler calling it), `close()` releases everything."""

    def __init__(self, cfg: ServerConfig):
        self.cfg = cfg
        self.store = JobStore(cfg.store)
        self.jobs: dict[str, Job] = {}
        self.streams = Streams(self._send, cfg.max_client_inflight_bytes, cfg.max_inflight_bytes)
        self.pool = None
        self.endpoint: str | None = None
        self._running = False
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self._guard: CurveGuard | None = None
        self._last_heartbeat = 0.0
        self._allowed = [Path(os.path.realpath(p)) for p in cfg.allow_local_paths]
        self._ray_started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Take the store, load its jobs, bind the socket, start the pool and queue the unfinished jobs;
        returns the bound endpoint. Raises `StoreError` / `StoreLockedError` (the store), `StartError` (the
        address, no worker could start), `FileNotFoundError` / `ValueError` (the CURVE keys): one line each."""
        guard = CurveGuard(Path(self.cfg.curve_keys)) if self.cfg.curve_keys is not None else None
        self.store.lock()
        try:
            resume = self._load_jobs()
        except OSError as exc:
            raise StoreError(storage_message(exc, f"job store {self.store.root}")) from None
        self._ctx = zmq.Context()
        self._sock = sock = self._ctx.socket(zmq.ROUTER)  # held at once, so close() always releases it
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, self.cfg.max_message_bytes)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.setsockopt(zmq.RCVHWM, 1_000)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 2_000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 10_000)
        if guard is not None:
            self._guard = guard
            guard.enable(self._ctx, sock)
        try:
            sock.bind(self.cfg.bind)
        except zmq.ZMQError as exc:
            hint = " (another server is listening there?)" if exc.errno == errno.EADDRINUSE else ""
            raise StartError(f"cannot listen on {self.cfg.bind}: {exc.strerror}{hint}; expected an endpoint "
                             f"like tcp://127.0.0.1:5555 (tcp://127.0.0.1:* picks a free port)") from None  # fmt: skip
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if exposed(self.endpoint) and guard is None:
            log.warning("listening on %s WITHOUT encryption or authentication: anyone who can reach this address "
                        "can submit jobs and read results; use --curve-keys (see `headfuse keys`)", self.endpoint)
        self.pool = self._make_pool()
        info = self.pool.workers_info()
        if info["wanted"] and not info["ready"]:
            reasons = "; ".join(dict.fromkeys(info["errors"])) or "they ended while loading"
            raise StartError(f"no worker could start: {reasons}")
        for job in resume:
            self._enqueue(job)
        where = f"Ray cluster {self.cfg.ray}" if self.cfg.ray else "local"
        log.info("listening on %s (%d of %d %s workers ready, store %s)", self.endpoint, info["ready"],
                 info["wanted"], where, self.store.root)  # fmt: skip
        return self.endpoint

    def _make_pool(self):
        """The workers: local processes, or with `cfg.ray` actors on that Ray cluster (none with 0 workers)."""
        from backend.execution.processes import ProcessPool

        if self.cfg.ray and self.cfg.workers > 0:
            from backend.execution.ray_pool import RayPool, connect

            self._ray_started = connect(self.cfg.ray)
            pool = RayPool(self.cfg.workers, self.store.root, self.cfg.defaults, threads=1)
            for i, info in enumerate(pool.info):
                log.info("Ray worker %d ready (pid %s, %s)", i, info["pid"], info["device"])
            return pool
        threads = max(1, (os.cpu_count() or 1) // max(1, self.cfg.workers))
        pool = ProcessPool(self.cfg.workers, self.store.root, self.cfg.defaults, threads, self.cfg.cancel_grace_s)
        pool.wait_started(self.cfg.worker_start_timeout_s)
        return pool

    def stop(self) -> None:
        """Ask `serve()` to return (safe from a signal handler)."""
        self._running = False

    def close(self) -> None:
        """Stop the workers, close the socket, release the store."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        if self._guard is not None:
            self._guard.stop()
            self._guard = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False
        self.store.unlock()

    def serve(self) -> None:
        """Run the event loop until `stop()`."""
        self._running = True
        waitable = getattr(self.pool, "fds", None)  # Ray's pool has nothing to wait on: poll it often
        poller, registered = zmq.Poller(), set()
        poller.register(self._sock, zmq.POLLIN)
        while self._running:
            fds = set(waitable()) if waitable else set()
            if fds != registered:  # a worker was replaced: wait on the new one's pipe
                for fd in registered - fds:
                    poller.unregister(fd)
                for fd in fds - registered:
                    poller.register(fd, zmq.POLLIN)
                registered = fds
            try:
                events = dict(poller.poll(timeout=20 if waitable is None and self.pool.pending() else 100))
            except zmq.ZMQError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            for task, event in self.pool.poll(0):
                try:
                    self._on_task_event(task, event)
                except Exception:  # one job's bookkeeping fault must not take the others down
                    log.exception("internal error on %s of job %s", event.get("event"), task.job)
            if self._sock in events:
                for _ in range(200):
                    try:
                        frames = self._sock.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._handle(frames)
            self._tick()

    # ------------------------------------------------------------------ jobs on disk

    def _load_jobs(self) -> list[Job]:
        """Every job in the store; returns the unfinished ones, to queue again."""
        resume = []
        for job in load_jobs(self.store):
            self.jobs[job.id] = job
            if job.state in ("queued", "running"):
                resume.append(job)
                log.info("job %s resumes at frame %d", job.id, job.frames_done)
        return resume

    def _save(self, job: Job) -> bool:
        """Write the job's record. When the disk refuses (full, read-only, gone) the job fails with code
        `storage` naming the path (kept in memory: STATUS and fetchers hear it), its work is stopped, and
        the server goes on; returns False then."""
        job.record["frames_done"] = job.frames_done
        try:
            self.store.save_record(job.record)
            return True
        except OSError as exc:
            message = storage_message(exc, f"job store {self.store.root}")
            log.error("job %s: %s", job.id, message)
            if job.state not in P.FINAL_STATES:
                if self.pool is not None:
                    self.pool.cancel(job.id)
                job.record["state"] = "failed"
                job.record["error"] = {"code": "storage", "message": message, "index": None}
            return False

    # ------------------------------------------------------------------ sending

    def _send(self, peer: bytes, frames: list) -> bool | None:
        """Send without blocking: True sent, False the peer's pipe is full (try later), None the peer is gone."""
        try:
            self._sock.send_multipart([peer, *frames], flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            return False
        except zmq.ZMQError as exc:
            if exc.errno == errno.EHOSTUNREACH:
                self.streams.drop_peer(peer)
                return None
            raise

    def _reply(self, peer: bytes, mtype: str, header: dict, req: int | None) -> None:
        if req is not None:
            header = {"req": req, **header}
        self._send(peer, P.encode(mtype, header))

    def _error(self, peer: bytes, code: str, message: str, req=None, job=None, index=None) -> None:
        self._send(peer, P.error(code, message, req=req, job=job, index=index))

    # ------------------------------------------------------------------ requests

    def _handle(self, frames: list) -> None:
        peer, body = frames[0].bytes, frames[1:]
        req = _guess_req(body)
        if self._guard is not None and not self._guard.allows(_user_id(body)):
            self.streams.drop_peer(peer)
            self._error(peer, "not_authorized", "this client's key is no longer on the server's allow-list", req=req)
            return
        try:
            msg = P.decode(body, allowed=P.CLIENT_TYPES)
        except P.ProtocolError as exc:
            self._error(peer, exc.code, exc.message, req=req)
            return
        self.streams.seen(peer)
        try:
            getattr(self, f"_on_{msg.type.lower()}")(peer, msg.header, msg)
        except Refused as exc:
            self._error(peer, exc.code, exc.message, req=req, job=msg.header.get("job"))
        except OSError as exc:
            message = storage_message(exc, f"job store {self.store.root}")
            log.error("%s: %s", msg.type, message)
            self._error(peer, "storage", f"{msg.type}: {message}", req=req, job=msg.header.get("job"))
        except Exception as exc:
            log.exception("internal error handling %s", msg.type)
            self._error(peer, "internal", f"{msg.type}: {type(exc).__name__}: {exc}", req=req)

    def _job(self, header: dict) -> Job:
        job = self.jobs.get(header["job"])
        if job is None:
            raise Refused("unknown_job", f"no job {header['job']} on this server")
        return job

    def _on_hello(self, peer: bytes, h: dict, msg) -> None:
        if h["version"] != P.PROTOCOL_VERSION:
            raise Refused(
                "version_mismatch",
                f"protocol version mismatch: the client speaks version {h['version']}, "
                f"this server speaks version {P.PROTOCOL_VERSION}",
            )
        caps = [c for c in P.CAPABILITIES if c != "local-path" or self._allowed]
        if self.cfg.curve_keys is not None:
            caps.append("curve")
        limits = {
            "max_message_bytes": self.cfg.max_message_bytes,
            "chunk_size": self.cfg.chunk_size,
            "max_video_bytes": self.cfg.max_video_bytes,
            "max_reference_bytes": self.cfg.max_reference_bytes,
            "max_job_upload_bytes": self.cfg.max_job_upload_bytes,
            "max_credit": P.MAX_CREDIT,
            "heartbeat_s": self.cfg.heartbeat_s,
            "workers": self.cfg.workers,
        }
        from backend import __version__

        header = {"version": P.PROTOCOL_VERSION, "capabilities": caps, "agent": f"headfuse {__version__}"}
        self._reply(peer, "HELLO", {**header, "limits": limits, "workers": self._workers()}, h.get("req"))

    def _workers(self) -> dict:
        """The protocol's WORKERS: workers asked for, ready, and why any could not start."""
        return self.pool.workers_info() if self.pool is not None else {"wanted": 0, "ready": 0, "errors": []}

    def _on_heartbeat(self, peer: bytes, h: dict, msg) -> None:
        self._reply(peer, "HEARTBEAT", {}, h.get("req"))

    def _on_submit(self, peer: bytes, h: dict, msg) -> None:
        queued = sum(1 for j in self.jobs.values() if j.state == "queued")
        uploading = sum(1 for j in self.jobs.values() if j.state == "uploading")
        record, uploads = admit(self.cfg, self.store, self._allowed, h, queued, uploading)
        job = Job(record)
        self.jobs[job.id] = job
        self._reply(peer, "ACCEPTED", {"job": job.id, "uploads": uploads, "chunk_size": self.cfg.chunk_size},
                    h.get("req"))
        if not uploads:
            self._enqueue(job)
        log.info("job %s submitted (%s)", job.id, "uploading" if uploads else "local paths")

    def _on_upload(self, peer: bytes, h: dict, msg) -> None:
        job = self._job(h)
        chunk = msg.buffers.get("chunk")
        if chunk is None:
            raise Refused("bad_message", "UPLOAD: expected one buffer named chunk")
        try:
            job.touched = time.monotonic()
            complete = receive_chunk(self.store, job.record, h["file"], h["offset"], chunk)
        except UploadCorrupt as exc:
            self._finish(job, "failed", (exc.code, exc.message, None))
            raise
        received = job.record["inputs"][h["file"]]["received"]
        header = {"job": job.id, "file": h["file"], "received": received, "complete": complete}
        self._reply(peer, "UPLOADED", header, h.get("req"))
        if complete and all_received(job.record):
            job.record["state"] = "queued"
            self._enqueue(job)

    def _on_fetch(self, peer: bytes, h: dict, msg) -> None:
        job = self._job(h)
        self.streams.fetch(peer, job.id, h["from_seq"], h["credit"])
        self._send_progress(job, peers=[peer])
        self._pump(job)

    def _on_credit(self, peer: bytes, h: dict, msg) -> None:
        self.streams.add_credit(peer, h["job"], h["credit"])
        self._pump(self.jobs[h["job"]])

    def _on_cancel(self, peer: bytes, h: dict, msg) -> None:
        job = self._job(h)
        if job.state not in P.FINAL_STATES:
            self.pool.cancel(job.id)
            self._finish(job, "cancelled")
            log.info("job %s cancelled", job.id)
        self._reply(peer, "JOB", {"record": job.public()}, h.get("req"))

    def _on_status(self, peer: bytes, h: dict, msg) -> None:
        self._reply(peer, "JOB", {"record": self._job(h).public(), "workers": self._workers()}, h.get("req"))

    def _on_list(self, peer: bytes, h: dict, msg) -> None:
        """The newest jobs, newest first, from just after job `after`: as many as `limit` asks for and one
        header holds; `next` names the last one sent when more follow."""
        jobs = sorted(self.jobs.values(), key=lambda j: (j.record["created"], j.id), reverse=True)
        if "after" in h:
            ids = [j.id for j in jobs]
            if h["after"] not in ids:
                raise Refused("unknown_job", f"LIST after job {h['after']}, which is not on this server")
            jobs = jobs[ids.index(h["after"]) + 1 :]
        records, size = [], 1024  # room for the rest of the header
        for job in jobs[: h.get("limit", 100)]:
            record = job.public()
            size += len(json.dumps(record)) + 2
            if size > P.MAX_HEADER_BYTES:
                break
            records.append(record)
        more = len(records) < len(jobs)
        header = {"records": records, "next": records[-1]["job"] if more and records else None}
        self._reply(peer, "JOBS", header, h.get("req"))

    # ------------------------------------------------------------------ streaming

    def _pump(self, job: Job) -> None:
        try:
            self.streams.pump(job, lambda seq: self.store.read_frame(job.id, seq), lambda: self._final(job))
        except (OSError, ValueError) as exc:  # a frame file the disk lost or damaged after it was announced
            message = f"job {job.id}: a stored frame cannot be read: {exc}"
            log.error("%s", message)
            for peer in self.streams.peers(job.id):
                self._error(peer, "storage", message, job=job.id)
                self.streams.end(peer, job.id)

    def _final(self, job: Job) -> list:
        """The message that closes a finished job's stream: ERROR for a failed job, DONE otherwise."""
        rec = job.record
        if job.state == "failed":
            err = rec["error"] or {"code": "internal", "message": "failed", "index": None}
            return P.error(err["code"], err["message"], job=job.id, index=err.get("index"))
        header = {"job": job.id, "state": job.state, "frames": job.frames_done}
        header.update({k: rec[k] for k in ("ok", "held", "skipped")})
        return P.encode("DONE", header)

    def _send_progress(self, job: Job, peers=None) -> None:
        job.last_progress = time.monotonic()
        header = {
            "job": job.id,
            "state": job.state,
            "frames_done": job.frames_done,
            "frames_total": job.record["frames_total"],
        }
        frames = P.encode("PROGRESS", header)
        targets = peers if peers is not None else self.streams.peers(job.id)
        for peer in targets:
            self._send(peer, frames)

    # ------------------------------------------------------------------ the pool

    def _enqueue(self, job: Job, front: bool = False) -> None:
        """Queue the job's remaining frames in the pool (from its first frame not yet stored)."""
        o = job.record["options"]
        start = o["start"] if job.last_index is None else job.last_index + o["stride"]
        inputs = job.record["inputs"]
        job.task = WorkTask(
            job=job.id,
            video=str(self.store.input_file(job.id, inputs["video"])),
            reference=str(self.store.input_file(job.id, inputs["reference"])),
            options={**o, "start": start},
            first_seq=job.frames_done,
            warmup=RESUME_WARMUP if job.frames_done else 0,  # a resumed job's state warms up as a batch chunk's
            max_frames=self.cfg.max_frames,
            max_video_pixels=self.cfg.max_video_pixels,
        )
        job.record["state"] = "queued"
        job.record["attempts"] = job.record.get("attempts", 0) + 1
        if not self._save(job):
            job.task = None
            self._send_progress(job)
            self._pump(job)
            return
        self.pool.submit(job.task, front=front)
        self._send_progress(job)
        log.info("job %s queued from frame %d (source %d)", job.id, job.frames_done, start)

    def _on_task_event(self, task: WorkTask, ev: dict) -> None:
        job = self.jobs.get(task.job)
        if job is None or job.task is not task:
            return  # a task of a job that was cancelled or has been queued again since
        kind = ev["event"]
        if job.state in P.FINAL_STATES and kind not in ("finished", "failed"):
            return  # a cancelled job's task winding down: what it still stores is not counted
        if kind == "started":
            job.record["state"] = "running"
            if ev["frames_total"] is not None:
                job.record["frames_total"] = ev["frames_total"]
            if not self._save(job):
                self._pump(job)
            self._send_progress(job)
        elif kind == "frame":
            if ev["seq"] == job.frames_done:
                job.frames_done += 1
                job.last_index = ev["index"]
                job.record[ev["status"]] += 1
                if ev["status"] == "skipped" and len(job.reasons) < 200:
                    job.reasons.append(ev["reason"])
                self._pump(job)
                if time.monotonic() - job.last_progress > 0.5:
                    self._send_progress(job)
        elif kind in ("finished", "failed"):
            job.task = None
            if job.state in P.FINAL_STATES:
                return
            if kind == "failed" and ev["code"] == "worker_lost":
                if job.record.get("attempts", 0) >= self.cfg.max_attempts:
                    msg = f"the worker died {job.record['attempts']} times on this job ({ev['message']})"
                    self._finish(job, "failed", ("worker_lost", msg, None))
                else:
                    self._enqueue(job, front=True)
            elif kind == "failed":
                self._finish(job, "failed", (ev["code"], self._as_user_said(job, ev["message"]), ev.get("index")))
            elif job.frames_done == 0:
                self._finish(job, "failed", ("bad_video", "video: no frames in the range asked for", None))
            elif job.record["ok"] + job.record["held"] == 0:
                video, reference = (job.input_name(n) for n in P.INPUT_FILES)
                reason = no_usable_face(video, reference, job.frames_done, job.reasons)
                self._finish(job, "failed", ("no_face", reason, None))
            else:
                self._finish(job, "done")

    def _as_user_said(self, job: Job, message: str) -> str:
        """`message` with the store's copies of uploaded inputs named as the user's files (`clip.mp4`, not
        `/data/jobs/<job>/inputs/video.mp4`)."""
        for name, spec in job.record["inputs"].items():
            if not spec.get("local"):
                message = message.replace(str(self.store.input_file(job.id, spec)), job.input_name(name))
        return message

    def _finish(self, job: Job, state: str, error: tuple | None = None) -> None:
        job.record["state"] = state
        if error is not None:
            code, message, index = error
            job.record["error"] = {"code": code, "message": message, "index": index}
            log.info("job %s failed: %s: %s", job.id, code, message)
        self._save(job)
        self._send_progress(job)
        self._pump(job)

    # ------------------------------------------------------------------ timers

    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < self.cfg.heartbeat_s:
            return
        self._last_heartbeat = now
        if self._guard is not None and self._guard.reload_if_changed():
            log.info("allow-list %s read again: %d client keys", self._guard.folder, len(self._guard.allowed))
        self._expire_uploads(now)
        self.streams.expire(self.cfg.peer_timeout_s)
        beat = P.encode("HEARTBEAT", {})
        for peer in self.streams.peers():
            self._send(peer, beat)
        for job_id in self.streams.jobs():
            self._pump(self.jobs[job_id])

    def _expire_uploads(self, now: float) -> None:
        """Delete the jobs whose uploads stopped `upload_timeout_s` ago, with their folders."""
        for job in [j for j in self.jobs.values() if j.state == "uploading"]:
            if now - job.touched > self.cfg.upload_timeout_s:
                del self.jobs[job.id]
                shutil.rmtree(self.store.job_dir(job.id), ignore_errors=True)
                log.info("job %s: upload abandoned for %.0f s, deleted", job.id, now - job.touched)


def _user_id(body: list) -> str | None:
    """The CURVE public key (Z85) ZeroMQ authenticated the message's sender with."""
    try:
        return body[0].get("User-Id")
    except (zmq.ZMQError, AttributeError, IndexError):
        return None


def _guess_req(body: list) -> int | None:
    """The `req` of a message that may be malformed (so an ERROR can still be matched by the client)."""
    import json

    try:
        raw = body[0].bytes
        if len(raw) > P.MAX_HEADER_BYTES:
            return None
        req = json.loads(raw).get("req")
    except Exception:
        return None
    return req if isinstance(req, int) and not isinstance(req, bool) and 0 <= req <= 2**53 else None
