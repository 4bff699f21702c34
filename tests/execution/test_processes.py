"""The local worker processes behind the pool interface: tasks run and report, a worker killed mid-task
ends that task `worker_lost` and is replaced, a cancel stops the running task, a worker that cannot
start says why."""

import os
import signal
import time

import pytest

from backend.execution.processes import ProcessPool
from backend.execution.store import JobStore
from backend.run.task import WorkTask
from backend.synth import SAMPLE_CLIP_DIR
from headfuse_wire.options import ReconstructConfig

VIDEO = str(SAMPLE_CLIP_DIR / "video.mp4")
REFERENCE = str(SAMPLE_CLIP_DIR / "reference.png")
JOB = {"mode": "per-frame", "mesh_resolution": 32, "texture_size": 0}


def _until(pool, done, timeout=240.0) -> list:
    events, deadline = [], time.monotonic() + timeout
    while not done(events):
        assert time.monotonic() < deadline, f"no end within {timeout} s: {events[-3:]}"
        events += pool.poll(0.2)
    return events


@pytest.fixture
def pool(tmp_path):
    p = ProcessPool(1, tmp_path, ReconstructConfig(device="cpu"), threads=1, cancel_grace_s=60)
    yield p
    p.close()


def test_tasks_run_report_and_a_killed_worker_is_replaced(tmp_path, pool):
    store = JobStore(tmp_path)
    for job in ("a", "b"):
        store.create({"job": job, "state": "running", "created": 0})
    a = WorkTask("a", VIDEO, REFERENCE, {**JOB, "stop": 2})
    pool.submit(a)
    events = _until(pool, lambda ev: any(e["event"] in ("finished", "failed") for _, e in ev))
    assert [e["event"] for _, e in events] == ["started", "frame", "frame", "finished"]
    assert all(t is a for t, _ in events) and not pool.pending()
    assert [h["index"] for h in store.scan_frames("a")] == [0, 1]

    b = WorkTask("b", VIDEO, REFERENCE, {**JOB, "stop": 30})
    pool.submit(b)
    events = _until(pool, lambda ev: any(e["event"] == "frame" for _, e in ev))
    os.kill(pool.workers[0].process.pid, signal.SIGKILL)  # the worker dies mid-task
    events = _until(pool, lambda ev: any(e["event"] in ("finished", "failed") for _, e in ev))
    (lost,) = (e for t, e in events if e["event"] == "failed")
    assert lost["code"] == "worker_lost" and "frames 0..30" in lost["message"] and not pool.pending()
    assert "exit code -9" in lost["message"]  # SIGKILL, read once the process was joined
    assert len(pool.workers) == 1  # replaced: the next task runs on the new worker
    pool.submit(WorkTask("b", VIDEO, REFERENCE, {**JOB, "start": 3, "stop": 4}, first_seq=3))
    events = _until(pool, lambda ev: any(e["event"] == "finished" for _, e in ev))
    assert [e["index"] for _, e in events if e["event"] == "frame"] == [3]


def test_cancel_stops_the_running_task_and_drops_the_queued_ones(tmp_path, pool):
    store = JobStore(tmp_path)
    store.create({"job": "c", "state": "running", "created": 0})
    running = WorkTask("c", VIDEO, REFERENCE, {**JOB, "stop": 30})
    queued = WorkTask("c", VIDEO, REFERENCE, {**JOB, "start": 30, "stop": 36}, first_seq=30)
    pool.submit(running)
    pool.submit(queued)
    _until(pool, lambda ev: any(e["event"] == "frame" for _, e in ev))
    assert pool.cancel("c") == [queued]
    events = _until(pool, lambda ev: any(e["event"] in ("finished", "failed") for _, e in ev), 60)
    assert events[-1][1]["state"] == "cancelled" and not pool.pending()


def test_a_worker_that_cannot_start_says_why_and_queued_tasks_get_the_reason(tmp_path):
    pool = ProcessPool(1, tmp_path, ReconstructConfig(device="cpu", weights=str(tmp_path / "none.pt")))
    try:
        pool.wait_started(120)
        assert pool.fatal and "none.pt" in pool.fatal[0] and pool.ready() == 0
        assert pool.workers_info() == {"wanted": 1, "ready": 0, "errors": pool.fatal}
        task = WorkTask("d", VIDEO, REFERENCE, {**JOB, "stop": 2})
        pool.submit(task)
        (event,) = (e for t, e in _until(pool, lambda ev: ev, 10) if t is task)
        assert event["event"] == "failed" and event["code"] == "no_worker" and "none.pt" in event["message"]
        assert not pool.pending()
    finally:
        pool.close()
