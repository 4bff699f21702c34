"""Local worker processes behind the pool interface (`backend.execution`): each is spawned once, loads
the networks once and then runs `run_task` for one task at a time, talking to the pool over its own
pipe (plain dicts between our own processes; nothing from the network ever travels here).

Pool -> worker: `{"op": "run", "task": {...}, "outputs": {...} | None}`, `{"op": "cancel", "job"}`,
`{"op": "exit"}`. Worker -> pool: `{"event": "ready"}`, `{"event": "fatal", "message"}`, then per task
the `run_task` reports (`started`, `frame`) with `job` added, ending with `finished` or `failed`.

The pool supervises them: a worker that dies is replaced and its task ends with a `failed` event of
code `worker_lost` (the caller decides whether to run it again); one that ignores a cancel for
`cancel_grace_s` is killed and replaced.
"""

import collections
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import wait

from backend.execution.store import JobStore, storage_message
from backend.run.sinks import job_sink
from backend.run.task import TERMINAL_EVENTS, WorkError, WorkTask, run_task
from headfuse_wire.options import ReconstructConfig

log = logging.getLogger("headfuse.workers")


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (even by SIGKILL), so no orphan worker
    goes on writing into the store that a restarted server is using."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def worker_main(conn, index: int, store_root: str, defaults: ReconstructConfig, threads: int) -> None:
    """Entry point of a worker process: the networks and device of `defaults` (weights, fusion_weights, device)."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import torch

        from backend.device import resolve_device
        from backend.models.weights import load_networks

        torch.set_num_threads(max(1, threads))
        dev = resolve_device(defaults.device)
        if dev.type == "cuda" and dev.index is None and torch.cuda.device_count() > 1:
            dev = torch.device(f"cuda:{index % torch.cuda.device_count()}")
        networks = load_networks(defaults.weights, defaults.fusion_weights, device=dev)
    except Exception as exc:
        conn.send({"event": "fatal", "message": f"worker {index} cannot start: {type(exc).__name__}: {exc}"})
        return
    store = JobStore(store_root)
    conn.send({"event": "ready"})
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg["op"] == "exit":
            return
        if msg["op"] != "run":
            continue  # a cancel for a task that already ended
        task = WorkTask(**msg["task"])
        stop = {"flag": False}

        def should_stop(task=task, stop=stop) -> bool:
            while not stop["flag"] and conn.poll():
                m = conn.recv()
                stop["flag"] = m["op"] == "exit" or (m["op"] == "cancel" and m["job"] == task.job)
            return stop["flag"]

        def report(event: dict, job=task.job) -> None:
            conn.send({**event, "job": job})

        try:
            sink = job_sink(store, task.job, task.options, msg.get("outputs"))
            result = run_task(task, sink, networks, report, should_stop, device=str(dev))
            conn.send({"event": "finished", "job": task.job, **result})
        except WorkError as exc:
            failure = {"code": exc.code, "message": exc.message, "index": exc.index}
            conn.send({"event": "failed", "job": task.job, **failure})
        except OSError as exc:  # the store's disk refused a frame (full, read-only, gone)
            message = f"{task.where()}: {storage_message(exc, f'job store {store_root}')}"
            conn.send({"event": "failed", "job": task.job, "code": "storage", "message": message, "index": None})
        except Exception as exc:
            conn.send(
                {"event": "failed", "job": task.job, "code": "internal", "message": f"{type(exc).__name__}: {exc}"}
            )


@dataclass
class _Worker:
    """The pool's handle on one worker process."""

    index: int
    """Worker number (GPU choice)."""
    process: mp.Process
    """The process."""
    conn: object
    """The pool's end of the pipe."""
    ready: bool = False
    """The networks are loaded."""
    task: WorkTask | None = None
    """The task it runs (None: idle)."""
    cancel_at: float | None = None
    """When a cancel was sent (monotonic seconds)."""

    def send(self, msg: dict) -> bool:
        """Send to the worker; False when it is gone."""
        try:
            self.conn.send(msg)
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        """End the process now and release the pipe."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


class ProcessPool:
    """`workers` local worker processes fed from a queue of tasks, one task in flight per worker.

    `submit` queues a task, `poll` waits for and returns the `(task, event)` pairs that arrived (and
    supervises the workers), `cancel` drops a job's queued tasks and stops its running one, `pending`
    says whether anything is queued or running, `close` ends the workers. `fatal` lists the messages of
    workers that could not start (they are not replaced); once no worker is left, queued tasks end with
    a `failed` event of code `no_worker` giving that reason."""

    def __init__(self, workers: int, store_root: str, defaults: ReconstructConfig | None = None, threads: int = 1,
                 cancel_grace_s: float = 5.0):  # fmt: skip
        self.store_root, self.defaults, self.threads = str(store_root), defaults or ReconstructConfig(), threads
        self.cancel_grace_s = cancel_grace_s
        self.queue: collections.deque = collections.deque()
        self.fatal: list[str] = []
        self.wanted = workers
        self.workers = [self._spawn(i) for i in range(workers)]

    def wait_started(self, timeout: float) -> None:
        """Block until every worker has loaded its networks or has failed to (at most `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while any(not w.ready for w in self.workers) and time.monotonic() < deadline:
            wait(self.fds(), min(0.5, max(0.0, deadline - time.monotonic())))
            for w in list(self.workers):
                self._drain(w, [])

    def workers_info(self) -> dict:
        """`{"wanted", "ready", "errors"}`: workers asked for, workers with their networks loaded, and the
        last messages of those that could not start (the protocol's WORKERS)."""
        return {"wanted": self.wanted, "ready": self.ready(), "errors": self.fatal[-8:]}

    def _spawn(self, index: int) -> _Worker:
        """Start worker `index` (spawn: a fresh interpreter, no state inherited from this process)."""
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=worker_main,
            args=(child_conn, index, self.store_root, self.defaults, self.threads),
            name=f"headfuse-worker-{index}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        return _Worker(index, process, parent_conn)

    def submit(self, task: WorkTask, outputs: dict | None = None, front: bool = False) -> None:
        """Queue `task` (with optional per-frame `outputs`: `run.sinks.ClipFiles` arguments; `front`: first)."""
        (self.queue.appendleft if front else self.queue.append)((task, outputs))
        self._dispatch([])

    def pending(self) -> bool:
        """Anything queued or running."""
        return bool(self.queue) or any(w.task is not None for w in self.workers)

    def ready(self) -> int:
        """Workers that have loaded their networks."""
        return sum(w.ready for w in self.workers)

    def cancel(self, job: str) -> list[WorkTask]:
        """Drop the queued tasks of `job` (returned) and stop its running one (it ends `cancelled`)."""
        dropped = [t for t, _ in self.queue if t.job == job]
        self.queue = collections.deque((t, o) for t, o in self.queue if t.job != job)
        for w in self.workers:
            if w.task is not None and w.task.job == job and w.cancel_at is None:
                w.send({"op": "cancel", "job": job})
                w.cancel_at = time.monotonic()
        return dropped

    def fds(self) -> list:
        """What to wait on for the next event (the workers' pipes and process sentinels)."""
        return [w.conn for w in self.workers] + [w.process.sentinel for w in self.workers]

    def poll(self, timeout: float) -> list[tuple[WorkTask, dict]]:
        """Wait up to `timeout` seconds for events; return those that arrived, replace dead workers and
        those that ignored a cancel, and give idle workers the next tasks."""
        out: list[tuple[WorkTask, dict]] = []
        if self.workers:
            wait(self.fds(), timeout)
        for w in list(self.workers):
            self._drain(w, out)
        now = time.monotonic()
        for w in list(self.workers):
            if w.cancel_at is not None and now - w.cancel_at > self.cancel_grace_s:
                log.warning("worker %d ignored a cancel for %.0f s: replacing it", w.index, now - w.cancel_at)
                task, w.task = w.task, None
                out.append((task, {"event": "finished", "job": task.job, "state": "cancelled", "frames": 0,
                                   "ok": 0, "held": 0, "skipped": 0}))  # fmt: skip
                self._replace(w, out)
        if self.wanted and not self.workers:
            reason = self.fatal[-1] if self.fatal else "every worker ended"
            while self.queue:
                task, _ = self.queue.popleft()
                message = f"{task.where()}: no worker can run it ({reason})"
                out.append((task, {"event": "failed", "job": task.job, "code": "no_worker", "message": message,
                                   "index": None}))  # fmt: skip
        self._dispatch(out)
        return out

    def _drain(self, w: _Worker, out: list) -> None:
        while True:
            try:
                if not w.conn.poll():
                    break
                event = w.conn.recv()
            except (EOFError, OSError):
                break
            kind = event["event"]
            if kind == "ready":
                w.ready = True
                log.info("worker %d ready", w.index)
            elif kind == "fatal":
                log.error("%s", event["message"])
                self.fatal.append(event["message"])
            elif w.task is not None and event.get("job") == w.task.job:
                out.append((w.task, event))
                if kind in TERMINAL_EVENTS:
                    w.task, w.cancel_at = None, None
        if not w.process.is_alive():
            self._replace(w, out)

    def _replace(self, w: _Worker, out: list) -> None:
        """Remove `w` (its task, if any, ends `worker_lost`); spawn a successor unless it never started."""
        if w not in self.workers:
            return
        self.workers.remove(w)
        w.kill()
        code = w.process.exitcode  # known once the process has been joined
        log.warning("worker %d ended (exit code %s)", w.index, code)
        if w.task is not None:
            message = f"{w.task.where()}: the worker died (exit code {code})"
            out.append((w.task, {"event": "failed", "job": w.task.job, "code": "worker_lost", "message": message,
                                 "index": None}))  # fmt: skip
        if w.ready:
            self.workers.append(self._spawn(w.index))

    def _dispatch(self, out: list) -> None:
        for w in list(self.workers):
            if not self.queue:
                return
            if w.ready and w.task is None:
                task, outputs = self.queue.popleft()
                w.task, w.cancel_at = task, None
                if not w.send({"op": "run", "task": task.to_dict(), "outputs": outputs}):
                    self._replace(w, out)

    def close(self) -> None:
        """Ask every worker to exit; kill those still running after 3 s."""
        for w in self.workers:
            w.send({"op": "exit"})
        deadline = time.monotonic() + 3.0
        for w in self.workers:
            w.process.join(timeout=max(0.0, deadline - time.monotonic()))
            w.kill()
        self.workers.clear()
        self.queue.clear()
