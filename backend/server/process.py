"""`headfuse serve` in a child process, started one way by the tests, the benchmarks and the demo.

It binds a port it picks itself (`tcp://127.0.0.1:*` unless told otherwise) and the endpoint is read
from the line it prints once it listens, so no caller picks a free port and races another process
for it before the server binds it.
"""

import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`headfuse serve --bind BIND --store STORE --workers N ARGS...`; `endpoint` is where it listens.
    Raises RuntimeError (with its first line of output) when it does not start, or prints nothing for
    `start_timeout` seconds (it waits for its workers to load before it listens)."""

    def __init__(self, store: Path, workers: int = 1, args: tuple = (), bind: str = "tcp://127.0.0.1:*",
                 stderr=None, cwd: Path = ROOT, start_timeout: float = 600.0):  # fmt: skip
        cmd = [sys.executable, "-m", "backend", "serve", "--bind", bind, "--workers", str(workers)]
        cmd += ["--store", str(store), *args]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], start_timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        match = re.search(r"listening on (tcp://\S+)", line)
        if not match:
            self.proc.kill()
            self.proc.wait()
            said = repr(line.strip()) if ready else f"nothing for {start_timeout:.0f} s"
            raise RuntimeError(f"headfuse serve did not start: {said}")
        self.endpoint = match.group(1)

    def alive(self) -> bool:
        """The process is still running."""
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no cleanup at all."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (SIGKILL after `timeout` seconds)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
