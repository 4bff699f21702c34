"""Fixtures for the server tests: weights, a small synthetic clip, and real `headfuse serve` processes
on 127.0.0.1 with ephemeral ports (each stopped by its test or fixture)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.server.process import ServerProcess

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


class ServerProcess(ServerProcess):
    """The server of a test: on CPU, its log beside the store (`STORE-server.log`)."""

    def __init__(
        self, store: Path, weights: Path | None, workers: int = 1, bind: str = "tcp://127.0.0.1:*", extra: tuple = (),
        cwd: Path = ROOT,
    ):  # fmt: skip
        self.store = store
        args = ["--device", "cpu", *extra] + (["--weights", str(weights)] if weights is not None else [])
        self.log = open((cwd / store).parent / f"{store.name}-server.log", "ab")
        try:
            super().__init__(store, workers, tuple(args), bind, stderr=self.log, cwd=cwd)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; see {self.log.name}") from None

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after 15 s); close the log."""
        super().stop()
        self.log.close()


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
