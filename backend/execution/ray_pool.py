"""Tasks on a Ray cluster: actors that load the networks once and run `run_task` chunks.

Ray does the distributed part (placement with one GPU per actor where there are GPUs, restarts of a
dead actor and retries of the chunk it was running, streaming results back); this module only wires
`backend.run.task.run_task` into it:

- `ChunkWorker` is the actor: it loads the networks once, then runs `WorkTask`s one at a time as
  Ray streaming generators that yield `run_task`'s reports (`started`, `frame` per stored frame, then
  `finished` or `failed`). Every frame is in the job store before its `frame` event leaves the actor.
- `RayPool` feeds queued tasks to idle actors (one in flight per actor) and collects their events,
  behind the interface every pool has (`backend.execution`): the server (`headfuse serve --ray`) and
  the batch (`headfuse batch --ray`) drive it as they drive local processes.

A killed actor process is restarted by Ray (`max_restarts`) and the chunk it was running is run again
(`max_task_retries`); Ray drops the stream items the consumer already had, and `JobStore.write_frame`
keeps frames already stored, so every frame is in the store exactly once. The job store (and the input
files) must be at the same path on every node: a shared filesystem.
"""

import collections
import logging
import os
from dataclasses import replace
from pathlib import Path

from backend.execution.store import JobStore
from backend.run.sinks import job_sink
from backend.run.task import WorkTask, task_events
from headfuse_wire.options import ReconstructConfig

log = logging.getLogger("headfuse.ray")


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
        sink = job_sink(self.store, work.job, work.options, outputs)
        yield from task_events(work, sink, self.networks, str(self.device), lambda: work.job in self._cancelled)


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

    def workers_info(self) -> dict:
        """`{"wanted", "ready", "errors"}`: actors asked for, actors alive (every one started: the pool waits
        for them when it is made), and no start errors (a failed start raises instead)."""
        return {"wanted": len(self.info), "ready": len(self.actors), "errors": []}

    def submit(self, task: WorkTask, outputs: dict | None = None, front: bool = False) -> None:
        """Queue `task` (with optional per-frame `outputs`, see `ChunkWorker.run`; `front`: before the others)."""
        (self.queue.appendleft if front else self.queue.append)((task, outputs))

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
