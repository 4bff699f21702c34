"""What one client can make the server hold: frames in flight under credit and a byte bound, jobs waiting
for uploads (bounded, and deleted when abandoned), and LIST paged under the header limit."""

import hashlib
import time

import numpy as np
import zmq

from backend.execution.store import JobStore
from headfuse_wire import protocol as P
from headfuse_wire.client import Client
from tests.server.conftest import ServerProcess, wait_for

FRAMES, FRAME_BYTES = 24, 2 << 20


def done_job(store_dir) -> str:
    """A finished job of `FRAMES` stored frames of `FRAME_BYTES` each, made straight in the store."""
    store = JobStore(store_dir)
    store.open()
    job = store.new_job_id()
    record = {"job": job, "state": "done", "name": "", "created": time.time(), "options": {}, "inputs": {},
              "frames_total": FRAMES, "ok": FRAMES, "held": 0, "skipped": 0, "error": None,
              "frames_done": FRAMES}  # fmt: skip
    store.create(record)
    rng = np.random.default_rng(0)
    for seq in range(FRAMES):
        colors = rng.integers(0, 255, (FRAME_BYTES // 3, 3), dtype=np.uint8)
        header = {"job": job, "seq": seq, "index": seq, "status": "ok", "reason": None, "camera": None,
                  "timings_ms": {}, "buffers": [P.describe("colors", colors)]}  # fmt: skip
        store.write_frame(job, seq, header, [colors.tobytes()])
    return job


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def dealer(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 4)  # a client that does not read: what it would hold stays on the server
    sock.connect(endpoint)
    return sock


def test_a_thousand_fetches_from_a_client_that_does_not_read_keep_the_server_small(tmp_path):
    store = tmp_path / "jobs"
    job = done_job(store)
    with ServerProcess(store, None, 0) as srv:
        with Client(srv.endpoint, timeout=10) as c:  # every frame arrives for a reading client
            assert [f.seq for f in c.frames(job, window=4)] == list(range(FRAMES))
        before = rss_mb(srv.proc.pid)
        sock = dealer(srv.endpoint)
        for _ in range(1000):
            sock.send_multipart(P.encode("FETCH", {"job": job, "from_seq": 0, "credit": P.MAX_CREDIT}))
        time.sleep(3)
        with Client(srv.endpoint, timeout=10) as c:  # the server still answers and still serves others
            assert c.status(job)["state"] == "done"
            assert len(list(c.frames(job, window=4))) == FRAMES
        grown = rss_mb(srv.proc.pid) - before
        sock.close()
        # the bound: 128 MiB in flight per client; without it, each FETCH queued the whole job again (48 MiB)
        assert grown < 300, f"server RSS grew {grown:.0f} MB after 1,000 FETCHs"


def submit_upload(c: Client, size: int = 1000) -> dict:
    """A SUBMIT that announces uploads and never sends them: the raw reply header."""
    inputs = {n: {"filename": f"{n}.bin", "size": size, "sha256": hashlib.sha256(b"x").hexdigest()}
              for n in P.INPUT_FILES}  # fmt: skip
    c._send("SUBMIT", {"options": {}, "inputs": inputs})
    while True:
        msg = c._recv(10)
        assert msg is not None, "no answer to SUBMIT"
        if msg.type in ("ACCEPTED", "ERROR"):
            return {"type": msg.type, **msg.header}


def test_uploads_that_never_come_are_bounded_then_deleted(tmp_path):
    store = tmp_path / "jobs"
    with ServerProcess(store, None, 0, extra=("--upload-timeout", "2")) as srv, Client(srv.endpoint, timeout=10) as c:
        replies = [submit_upload(c) for _ in range(40)]
        accepted = [r["job"] for r in replies if r["type"] == "ACCEPTED"]
        refused = [r for r in replies if r["type"] == "ERROR"]
        assert len(accepted) == 32 and {r["code"] for r in refused} == {"busy"}, refused[:1]
        assert "waiting for their uploads" in refused[0]["message"]
        wait_for(lambda: not any((store / j).exists() for j in accepted), 20, "abandoned uploads to be deleted")
        assert c.list_jobs() == []
        assert submit_upload(c)["type"] == "ACCEPTED"  # room again


def test_list_pages_through_more_jobs_than_one_header_holds(tmp_path, clip):
    store = tmp_path / "jobs"
    with ServerProcess(store, None, 0, extra=("--allow-local-paths", str(clip))) as srv, \
            Client(srv.endpoint, timeout=10) as c:  # fmt: skip
        jobs = [c.submit(clip / "video.mp4", clip / "reference.png", {"name": f"job {i}"}, local_paths=True)
                for i in range(300)]  # fmt: skip
        listed = c.list_jobs(limit=1000)
        assert [r["job"] for r in listed] == jobs[::-1]  # newest first, each once
        assert [r["job"] for r in c.list_jobs(limit=7)] == jobs[::-1][:7]
        raw = c._request("LIST", {"limit": 1000}, ("JOBS",)).header
        assert 0 < len(raw["records"]) < 300 and raw["next"] == raw["records"][-1]["job"]
