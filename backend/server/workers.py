"""Local worker processes: each is spawned once, loads the model once and then runs `run_task` for one
job at a time, talking to the server over its own pipe (plain dicts between our own processes;
nothing from the network ever travels here).

Server -> worker: `{"op": "run", "task": {...}}`, `{"op": "cancel", "job"}`, `{"op": "exit"}`.
Worker -> server: `{"event": "ready"}`, `{"event": "fatal", "message"}`, the `run_task` reports
(`started`, `frame`) with `job` added, then `finished` (with the result) or `failed` (code, message, index).
"""

import ctypes
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass, field

from backend.run.sinks import StoreSink
from backend.run.task import WorkError, WorkTask, run_task
from backend.server.store import JobStore
from headfuse_wire.options import ReconstructConfig


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the server dies (even by SIGKILL), so no orphan worker
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
            continue  # a cancel for a job that already ended
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
            sink = StoreSink(store, task.job, bool(task.options.get("triplanes")))
            result = run_task(task, sink, networks, report, should_stop, device=str(dev))
            conn.send({"event": "finished", "job": task.job, **result})
        except WorkError as exc:
            failure = {"code": exc.code, "message": exc.message, "index": exc.index}
            conn.send({"event": "failed", "job": task.job, **failure})
        except Exception as exc:
            conn.send(
                {"event": "failed", "job": task.job, "code": "internal", "message": f"{type(exc).__name__}: {exc}"}
            )


@dataclass
class Worker:
    """The server's handle on one worker process."""

    index: int
    """Worker number (GPU choice)."""
    process: mp.Process
    """The process."""
    conn: object
    """The server's end of the pipe."""
    ready: bool = False
    """The model is loaded."""
    job: str | None = None
    """The job it runs (None: idle)."""
    cancel_at: float | None = None
    """When a cancel was sent (monotonic seconds)."""
    started: float = field(default_factory=time.monotonic)
    """When the process was spawned."""

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


def spawn_worker(index: int, store_root: str, defaults: ReconstructConfig, threads: int) -> Worker:
    """Start one worker process (spawn: a fresh interpreter, no state inherited from the server)."""
    ctx = mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    process = ctx.Process(
        target=worker_main,
        args=(child_conn, index, store_root, defaults, threads),
        name=f"headfuse-worker-{index}",
        daemon=True,
    )
    process.start()
    child_conn.close()
    return Worker(index, process, parent_conn)
