"""Fixtures for the server tests: weights, a small synthetic clip, and real `headfuse serve` processes
on 127.0.0.1 with ephemeral ports (each stopped by its test or fixture)."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = ROOT / "backend" / "weights" / "tiny" / "lifter.pt"
FAST = {"mesh_resolution": 32, "texture_size": 64}
"""Job options that keep test jobs small."""


@pytest.fixture(scope="session")
def weights() -> Path:
    """The shipped tiny lifter weights."""
    assert SHIPPED_WEIGHTS.is_file(), f"{SHIPPED_WEIGHTS} is missing: the tiny weights ship with the repository"
    return SHIPPED_WEIGHTS


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 6-frame 128 px synthetic clip (video.mp4 + reference.png)."""
    out = tmp_path_factory.mktemp("clip")
    cmd = [sys.executable, "-m", "backend", "synth", "clip", "--seed", "3", "--frames", "6", "--size", "128"]
    cmd += ["--views", "1", "--view-size", "16", "--mesh-every", "0", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


class ServerProcess:
    """`headfuse serve` in a child process; `endpoint` is where it listens."""

    def __init__(
        self, store: Path, weights: Path | None, workers: int = 1, bind: str = "tcp://127.0.0.1:*", extra: tuple = ()
    ):
        self.store = store
        cmd = [sys.executable, "-m", "backend", "serve", "--bind", bind, "--workers", str(workers)]
        cmd += ["--store", str(store), "--device", "cpu", *extra]
        if weights is not None:
            cmd += ["--weights", str(weights)]
        self.log = open(store.parent / f"{store.name}-server.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, cwd=ROOT, env=os.environ.copy())
        line = self.proc.stdout.readline().decode()
        match = re.search(r"listening on (tcp://\S+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}; see {self.log.name}")
        self.endpoint = match.group(1)

    def kill9(self) -> None:
        """SIGKILL: no cleanup at all."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()

    def alive(self) -> bool:
        """The process is still running."""
        return self.proc.poll() is None


def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory, weights, clip):
    """One server for a test module: 2 workers, local paths allowed inside the clip folder, uploads up to 1 MiB."""
    store = tmp_path_factory.mktemp("store") / "jobs"
    srv = ServerProcess(store, weights, 2, extra=("--allow-local-paths", str(clip), "--max-upload-mb", "1"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for all Ray tests (2 CPUs, no dashboard), shut down at the end."""
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.WARNING)  # fmt: skip
    yield ray
    ray.shutdown()
