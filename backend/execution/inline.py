"""The pool of this process: the networks loaded once here, tasks run one after another on a thread.
The same interface as the other pools (`backend.execution`), for `headfuse batch` without Ray."""

import collections
import queue
import threading
from pathlib import Path

from backend.execution.store import JobStore
from backend.run.sinks import job_sink
from backend.run.task import TERMINAL_EVENTS, WorkTask, task_events
from headfuse_wire.options import ReconstructConfig


class InlinePool:
    """The pool of this process: one thread running the tasks one after another with networks loaded
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

    def submit(self, task: WorkTask, outputs: dict | None = None, front: bool = False) -> None:
        """Queue `task` (with optional per-frame `outputs`; `front`: before the others)."""
        (self.queue.appendleft if front else self.queue.append)((task, outputs))

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
            sink = job_sink(self.store, task.job, task.options, outputs)
            self._events = task_events(
                task, sink, self.networks, str(self.device), lambda: task.job in self.cancelled
            )  # fmt: skip
            threading.Thread(target=self._pump, args=(task, self._events), daemon=True).start()
        out = []
        try:
            out.append(self.events.get(timeout=timeout))
            while True:
                out.append(self.events.get_nowait())
        except queue.Empty:
            pass
        if out and out[-1][1]["event"] in TERMINAL_EVENTS:
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
