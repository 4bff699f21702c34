"""The server's work on a Ray cluster: actors that load the networks once and run `run_task` chunks.

Ray does the distributed part (placement with one GPU per actor where there are GPUs, restarts of a
dead actor and retries of the chunk it was running, streaming results back); this module only wires
`backend.run.task.run_task` into it:

- `ChunkWorker` is the actor: it loads the networks once, then runs `WorkTask`s one at a time as
  Ray streaming generators that yield `run_task`'s reports (`started`, `frame` per stored frame, then
  `finished` or `failed`). Every frame is in the job store before its `frame` event leaves the actor.
- `RayPool` feeds queued tasks to idle actors (one in flight per actor) and collects their events;
  `LocalPool` is its in-process twin (no Ray) with the same interface, for the local path.
- `spawn_ray_worker` gives `backend.server.server.Server` a worker handle backed by an actor, so the
  ZeroMQ front end runs unchanged (`headfuse serve --ray ADDRESS`).

A killed actor process is restarted by Ray (`max_restarts`) and the chunk it was running is run again
(`max_task_retries`); Ray drops the stream items the consumer already had, and `JobStore.write_frame`
keeps frames already stored, so every frame is in the store exactly once. The job store (and the input
files) must be at the same path on every node: a shared filesystem.
"""

import collections
import logging
import os
import queue
import threading
from dataclasses import replace
from pathlib import Path

from backend.run.sinks import Both, ClipFiles, StoreSink
from backend.run.task import WorkError, WorkTask, run_task
from backend.server.store import JobStore
from headfuse_wire.options import ReconstructConfig

log = logging.getLogger("headfuse.cluster")

TERMINAL = ("finished", "failed")
"""The last event of every task."""


def connect(address: str, num_cpus: int | None = None) -> bool:
    """Join the Ray cluster at `address` (`host:port` of the head's GCS, or `auto`), or start a private one
    on this machine for `local` (Ray 2.60 turns token authentication on for it and keeps the token in
    ~/.ray/auth_token; no dashboard). Returns True when this call initialized Ray (the caller shuts it down),
    False when Ray was already initialized in this process."""
    import ray

    if ray.is_initialized():
        return False
    if address == "local":
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    else:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    return True


def task_events(task: WorkTask, store: JobStore, networks, device: str, should_stop, outputs: dict | None = None):
    """`run_task` in a thread into the job store (and, with `outputs`, the clip folder `ClipFiles(**outputs)`),
    its reports as a generator of dicts (each with `job`) ending with `{"event": "finished", "state", "frames",
    "ok", "held", "skipped"}` or `{"event": "failed", "code", "message", "index"}`."""
    events: queue.SimpleQueue = queue.SimpleQueue()
    sink = StoreSink(store, task.job, bool(task.options.get("triplanes")))
    if outputs:
        sink = Both(sink, ClipFiles(**outputs))

    def work() -> None:
        try:
            result = run_task(task, sink, networks, events.put, should_stop, device=device)
            events.put({"event": "finished", **result})
        except WorkError as exc:
            events.put({"event": "failed", "code": exc.code, "message": exc.message, "index": exc.index})
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            events.put({"event": "failed", "code": "internal", "message": message, "index": None})

    thread = threading.Thread(target=work, name=f"headfuse-task-{task.job}", daemon=True)
    thread.start()
    while True:
        event = events.get()
        yield {**event, "job": task.job}
        if event["event"] in TERMINAL:
            thread.join()
            return


class ChunkWorker:
    """The Ray actor (wrapped by `ray.remote` in `make_actor`): loads the networks once in its constructor,
    then runs chunks. Runs with `max_concurrency=2` so `cancel` and `ready` answer while a chunk runs."""

    def __init__(self, store_root: str, defaults: ReconstructConfig, threads: int):
        import torch

        from backend.device import resolve_device
        from backend.models.weights import load_networks

        torch.set_num_threads(max(1, threads))
        self.device = resolve_device(defaults.device)  # on a GPU actor Ray sets CUDA_VISIBLE_DEVICES to its one GPU
        # the networks, loaded once per actor
        self.networks = load_networks(defaults.weights, defaults.fusion_weights, device=self.device)
        self.store = JobStore(store_root)
        self._cancelled: set[str] = set()

    def ready(self) -> dict:
        """Where this actor runs: `pid`, `device`."""
        return {"pid": os.getpid(), "device": str(self.device)}

    def cancel(self, job: str) -> None:
        """Stop the chunk of `job` that runs here (at its next frame) and any later one."""
        self._cancelled.add(job)

    def run(self, task: dict, outputs: dict | None = None):
        """Run one `WorkTask` (as a dict); a generator of its events (call with `num_returns="streaming"`).
        `outputs`: the clip folder's per-frame files (`backend.run.sinks.ClipFiles` arguments) or None."""
        work = WorkTask(**task)
        yield from task_events(
            work, self.store, self.networks, str(self.device), lambda: work.job in self._cancelled, outputs
        )


def make_actor(store_root: str | Path, defaults: ReconstructConfig, threads: int, max_restarts: int = 3):
    """One `ChunkWorker` actor running with `defaults`' weights: one GPU when the cluster has GPUs and
    `defaults.device` is not `cpu`, else one CPU.
    Ray restarts it up to `max_restarts` times and re-runs the chunk it was running as often."""
    import ray

    device = defaults.device
    gpus = ray.cluster_resources().get("GPU", 0)
    if device.startswith("cuda") and gpus < 1:
        raise RuntimeError("--device cuda: the Ray cluster has no GPUs")
    use_gpu = gpus >= 1 and device != "cpu"
    resources = {"num_gpus": 1, "num_cpus": 1} if use_gpu else {"num_cpus": 1}
    cls = ray.remote(ChunkWorker).options(
        max_restarts=max_restarts, max_task_retries=max_restarts, max_concurrency=2, **resources
    )
    return cls.remote(str(Path(store_root).resolve()), replace(defaults, device="cuda" if use_gpu else "cpu"), threads)


def wait_ready(actors: list, timeout: float = 600.0) -> list[dict]:
    """Wait until every actor has loaded its networks; raises RuntimeError with Ray's reason when one cannot."""
    import ray

    try:
        return ray.get([a.ready.remote() for a in actors], timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        raise RuntimeError(f"Ray workers did not start within {timeout:.0f} s (not enough free CPUs/GPUs?)") from None
    except ray.exceptions.RayError as exc:
        raise RuntimeError(f"a Ray worker could not start: {exc}") from None


class RayPool:
    """`workers` `ChunkWorker` actors fed from a queue of tasks, one task in flight per actor.

    `submit` queues a task, `poll` dispatches and returns the `(task, event)` pairs that arrived, `cancel`
    drops a job's queued tasks and stops its running ones, `pending` says whether anything is queued or
    running, `close` ends the actors. A task whose actor is lost for good ends with a `failed` event
    (code `worker_lost`)."""

    def __init__(
        self,
        workers: int,
        store_root: str | Path,
        defaults: ReconstructConfig | None = None,
        threads: int = 1,
        max_restarts: int = 3,
        timeout: float = 600.0,
    ):
        if workers < 1:
            raise ValueError(f"RayPool: workers must be >= 1, not {workers}")
        defaults = defaults or ReconstructConfig()
        self.actors = [make_actor(store_root, defaults, threads, max_restarts) for _ in range(workers)]
        self.info = wait_ready(self.actors, timeout)
        self.idle = list(self.actors)
        self.queue: collections.deque = collections.deque()
        self.running: dict = {}

    def submit(self, task: WorkTask, outputs: dict | None = None) -> None:
        """Queue `task` (with optional per-frame `outputs`, see `ChunkWorker.run`)."""
        self.queue.append((task, outputs))

    def pending(self) -> bool:
        """Anything queued or running."""
        return bool(self.queue or self.running)

    def cancel(self, job: str) -> list[WorkTask]:
        """Drop the queued tasks of `job` (returned) and stop its running ones (they end `cancelled`)."""
        dropped = [t for t, _ in self.queue if t.job == job]
        self.queue = collections.deque((t, o) for t, o in self.queue if t.job != job)
        for actor, task in self.running.values():
            if task.job == job:
                actor.cancel.remote(job)
        return dropped

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            actor = self.idle.pop(0)
            task, outputs = self.queue.popleft()
            gen = actor.run.options(num_returns="streaming").remote(task.to_dict(), outputs)
            self.running[gen] = (actor, task)

    def poll(self, timeout: float) -> list[tuple[WorkTask, dict]]:
        """Dispatch, wait up to `timeout` seconds for events, return those that arrived."""
        import ray

        self._dispatch()
        if not self.running:
            return []
        gens = list(self.running)
        ready, rest = ray.wait(gens, num_returns=1, timeout=timeout, fetch_local=False)
        if ready and rest:
            ready += ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=False)[0]
        out = []
        for gen in ready:
            actor, task = self.running[gen]
            try:
                event = ray.get(next(gen))
            except StopIteration:
                del self.running[gen]
                self.idle.append(actor)
                continue
            except ray.exceptions.RayError as exc:
                del self.running[gen]
                if isinstance(exc, ray.exceptions.ActorDiedError):
                    self.actors.remove(actor)  # restarts used up: the actor is gone for good
                else:
                    self.idle.append(actor)
                message = f"{task.where()}: the Ray worker was lost ({type(exc).__name__}: {exc})"
                event = {"event": "failed", "job": task.job, "code": "worker_lost", "message": message, "index": None}
            out.append((task, event))
        if not self.actors:
            while self.queue:
                task, _ = self.queue.popleft()
                message = f"{task.where()}: no Ray worker left"
                out.append((task, {"event": "failed", "job": task.job, "code": "worker_lost", "message": message}))
        self._dispatch()
        return out

    def close(self) -> None:
        """End the actors."""
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors, self.idle, self.running = [], [], {}


class LocalPool:
    """`RayPool`'s in-process twin: one thread running the tasks one after another with networks loaded
    once here. Same `submit` / `poll` / `cancel` / `pending` / `close`."""

    def __init__(self, store_root: str | Path, defaults: ReconstructConfig | None = None, threads: int = 0):
        import torch

        from backend.device import resolve_device
        from backend.models.weights import load_networks

        if threads > 0:
            torch.set_num_threads(threads)
        defaults = defaults or ReconstructConfig()
        self.device = resolve_device(defaults.device)
        self.networks = load_networks(defaults.weights, defaults.fusion_weights, device=self.device)  # loaded once
        self.store = JobStore(store_root)
        self.queue: collections.deque = collections.deque()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled: set[str] = set()
        self.current: WorkTask | None = None
        self._events = None

    def submit(self, task: WorkTask, outputs: dict | None = None) -> None:
        """Queue `task` (with optional per-frame `outputs`)."""
        self.queue.append((task, outputs))

    def pending(self) -> bool:
        """Anything queued or running."""
        return bool(self.queue or self.current is not None)

    def cancel(self, job: str) -> list[WorkTask]:
        """Drop the queued tasks of `job` (returned) and stop its running one."""
        self.cancelled.add(job)
        dropped = [t for t, _ in self.queue if t.job == job]
        self.queue = collections.deque((t, o) for t, o in self.queue if t.job != job)
        return dropped

    def poll(self, timeout: float) -> list[tuple[WorkTask, dict]]:
        """Start the next task when idle; wait up to `timeout` seconds for events; return those that arrived."""
        if self.current is None:
            if not self.queue:
                return []
            task, outputs = self.queue.popleft()
            self.current = task
            self._events = task_events(
                task, self.store, self.networks, str(self.device), lambda: task.job in self.cancelled,
                outputs,
            )  # fmt: skip
            threading.Thread(target=self._pump, args=(task, self._events), daemon=True).start()
        out = []
        try:
            out.append(self.events.get(timeout=timeout))
            while True:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        if out and out[-1][1]["event"] in TERMINAL:
            self.current = None
        return out

    def _pump(self, task: WorkTask, events) -> None:
        for event in events:
            self.events.put((task, event))

    def close(self) -> None:
        """Stop the running task (at its next frame) and drop the queue."""
        if self.current is not None:
            self.cancelled.add(self.current.job)
        self.queue.clear()


# ---------------------------------------------------------------------- the server's worker handle


class _ActorThread:
    """What the server expects of a worker process (`sentinel`, `is_alive`, `exitcode`, `join`, `kill`),
    for a thread in the server process that drives one actor. The sentinel is a pipe's read end that
    becomes readable when the thread ends."""

    def __init__(self, target, args: tuple, name: str):
        self.sentinel, self._write_end = os.pipe()
        self.stop = threading.Event()
        self.actor = None
        self._thread = threading.Thread(target=self._main, args=(target, args), name=name, daemon=True)

    def _main(self, target, args) -> None:
        try:
            target(self, *args)
        finally:
            os.close(self._write_end)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def is_alive(self) -> bool:
        """The thread runs."""
        return self._thread.is_alive()

    @property
    def exitcode(self) -> int | None:
        """None while running, else 0."""
        return None if self._thread.is_alive() else 0

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread."""
        self._thread.join(timeout)

    def kill(self) -> None:
        """End the actor for good and let the thread return."""
        import ray

        self.stop.set()
        if self.actor is not None:
            ray.kill(self.actor, no_restart=True)
        self._thread.join(5)
        if self.sentinel is not None and not self._thread.is_alive():
            os.close(self.sentinel)
            self.sentinel = None


def _drive_actor(proc: _ActorThread, conn, index: int, store_root: str, defaults, threads: int) -> None:
    """The thread behind a Ray worker handle: speaks `backend.server.workers`' pipe protocol to the server
    and runs each `run` on the actor, forwarding its events as they stream in."""
    import ray

    try:
        proc.actor = make_actor(store_root, defaults, threads)
        info = wait_ready([proc.actor])[0]
    except Exception as exc:
        conn.send({"event": "fatal", "message": f"Ray worker {index} cannot start: {exc}"})
        return
    log.info("Ray worker %d ready (pid %s, %s)", index, info["pid"], info["device"])
    conn.send({"event": "ready"})
    while not proc.stop.is_set():
        try:
            if not conn.poll(0.2):
                continue
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg["op"] == "exit":
            ray.kill(proc.actor, no_restart=True)
            return
        if msg["op"] != "run":
            continue
        task = dict(msg["task"])
        for key in ("video", "reference"):  # the actor's working folder is not the server's
            task[key] = os.path.abspath(task[key])
        gen = proc.actor.run.options(num_returns="streaming").remote(task, None)
        while True:
            if proc.stop.is_set():
                return
            try:
                while conn.poll():
                    m = conn.recv()
                    if m["op"] == "exit":
                        ray.kill(proc.actor, no_restart=True)
                        return
                    if m["op"] == "cancel" and m["job"] == task["job"]:
                        proc.actor.cancel.remote(task["job"])
            except (EOFError, OSError):
                return
            ready, _ = ray.wait([gen], timeout=0.1, fetch_local=False)
            if not ready:
                continue
            try:
                event = ray.get(next(gen))
            except StopIteration:
                break
            except ray.exceptions.RayError as exc:
                message = f"the Ray worker was lost: {type(exc).__name__}: {exc}"
                conn.send({"event": "failed", "job": task["job"], "code": "worker_lost", "message": message})
                if isinstance(exc, ray.exceptions.ActorDiedError):
                    return  # the server replaces this worker
                break
            conn.send(event)


def spawn_ray_worker(index: int, store_root: str, defaults: ReconstructConfig, threads: int):
    """A `backend.server.workers.Worker` whose work runs on a Ray actor (same pipe protocol, same events)."""
    import multiprocessing as mp

    from backend.server.workers import Worker

    parent_conn, child_conn = mp.Pipe(duplex=True)
    store = str(Path(store_root).resolve())
    proc = _ActorThread(_drive_actor, (child_conn, index, store, defaults, threads), f"headfuse-ray-{index}")
    proc.start()
    return Worker(index, proc, parent_conn)
