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
TRAINING_WEIGHTS = ROOT / "runs" / "encoder-tiny" / "checkpoint.pt"
FAST = {"mesh_resolution": 32, "texture_size": 64}
"""Job options that keep test jobs small."""


def _stand_in_weights(path: Path) -> Path:
    """A lifter checkpoint for when no trained weights exist yet: seeded random weights whose density
    output is rescaled so the field crosses the surface level (meshes come out; they are not heads)."""
    import torch

    from backend.checkpoint import save_checkpoint
    from backend.config import EncoderConfig, config_to_dict
    from backend.models.lifter import Lifter

    torch.manual_seed(0)
    model = Lifter(EncoderConfig()).eval()
    with torch.no_grad():
        field = model.field(model(torch.rand(1, 3, model.cfg.image_size, model.cfg.image_size)))
        g = torch.linspace(-0.5, 0.5, 17)
        points = torch.stack(torch.meshgrid(g, g, g, indexing="ij"), -1).reshape(1, -1, 3)
        x = model.decoder.net(field._sample(field.planes, points, field.box_warp))[..., 0]
        last = model.decoder.net[-1]
        k = 40.0 / float(x.std())
        last.weight[0] *= k
        last.bias[0] = last.bias[0] * k - float(x.mean()) * k + 26.0
    save_checkpoint(path, {"model": model.state_dict(), "encoder_config": config_to_dict(model.cfg)})
    return path


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """The shipped tiny weights, else the training run's checkpoint, else stand-in weights."""
    for path in (SHIPPED_WEIGHTS, TRAINING_WEIGHTS):
        if path.is_file():
            return path
    return _stand_in_weights(tmp_path_factory.mktemp("weights") / "lifter.pt")


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
