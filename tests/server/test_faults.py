"""Faults: a server killed with SIGKILL mid-job and restarted, and the store's crash consistency."""

import json
import re
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

from backend.execution.store import JobStore, parse_frame
from headfuse_wire.client import Client, frame_digest
from tests.server.conftest import FAST, ServerProcess, wait_for


def test_kill9_mid_job_then_restart_resumes_and_every_frame_arrives_once(tmp_path, weights, clip):
    store_dir = tmp_path / "jobs"
    srv = ServerProcess(store_dir, weights, 1)
    port = re.search(r":(\d+)$", srv.endpoint).group(1)
    bind = f"tcp://127.0.0.1:{port}"
    restarted = None
    try:
        with Client(srv.endpoint, timeout=10, silence=2.0, reconnect_timeout=120) as c:
            job = c.submit(clip / "video.mp4", clip / "reference.png", FAST)
            received, at_kill = [], None
            for frame in c.frames(job, window=2):
                received.append(frame)
                if len(received) == 2 and at_kill is None:
                    srv.kill9()
                    record = json.loads((store_dir / job / "job.json").read_text())
                    stored = sorted(p.name for p in (store_dir / job / "frames").glob("*.frame"))
                    at_kill = (record["state"], len(stored))
                    restarted = ServerProcess(store_dir, weights, 1, bind)
            final = c.status(job)
        assert at_kill[0] in ("queued", "running") and at_kill[1] < 6, f"the job was not mid-way: {at_kill}"
        assert [f.seq for f in received] == list(range(6)) and [f.index for f in received] == list(range(6))
        assert final["state"] == "done" and final["frames_done"] == 6
        store = JobStore(store_dir)
        for f in received:  # what the client got is what the store holds, checksums verified
            header, _ = store.read_frame(job, f.seq, verify=True)
            assert header["digest"] == f.digest == frame_digest(f)
        log = (store_dir.parent / "jobs-server.log").read_text(errors="replace")
        assert f"job {job} resumes at frame {at_kill[1]}" in log
    finally:
        srv.stop()
        if restarted is not None:
            restarted.stop()


def test_store_scan_drops_damaged_frames_and_everything_after(tmp_path):
    store = JobStore(tmp_path)
    store.create({"job": "0123456789abcdef", "state": "running", "created": time.time()})
    data = np.arange(12, dtype=np.float32).reshape(4, 3)
    desc = {"name": "vertices", "dtype": "float32", "shape": [4, 3], "nbytes": data.nbytes}
    desc["crc32"] = zlib.crc32(data.tobytes())
    for seq in range(4):
        store.write_frame("0123456789abcdef", seq, {"seq": seq, "index": seq, "buffers": [desc]}, [data])
    header, buffers = store.read_frame("0123456789abcdef", 1, verify=True)
    assert header["seq"] == 1 and np.frombuffer(buffers[0], np.float32).tolist() == data.ravel().tolist()
    path = store.frame_path("0123456789abcdef", 2)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # one flipped bit in frame 2
    path.write_bytes(bytes(raw))
    (path.parent / ".000004.frame.123.part").write_bytes(b"half a frame")  # a write cut short by a crash
    headers = store.scan_frames("0123456789abcdef")
    assert [h["seq"] for h in headers] == [0, 1]
    assert sorted(p.name for p in path.parent.iterdir()) == ["000000.frame", "000001.frame"]
    with pytest.raises(ValueError, match="CRC-32"):
        parse_frame(bytes(raw), verify=True)


def test_a_second_server_cannot_take_a_store_in_use(tmp_path):
    first = ServerProcess(tmp_path / "jobs", None, 0)
    try:
        cmd = [sys.executable, "-m", "backend", "serve", "--bind", "tcp://127.0.0.1:*", "--workers", "0"]
        out = subprocess.run([*cmd, "--store", str(tmp_path / "jobs")], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "in use by another headfuse server" in out.stderr
        wait_for(first.alive, 1, "the first server to keep running")
    finally:
        first.stop()
