"""`headfuse serve` refuses to start in one line, with a non-zero exit and no traceback, when it cannot
work: the address, the store, the keys, the workers. It never hangs on the way out."""

import resource
import signal
import subprocess
import sys

import pytest
import zmq.auth

from backend.server.security import exposed
from tests.server.conftest import ROOT, ServerProcess


def serve(*args: str, preexec=None, timeout: float = 90) -> tuple[int, str]:
    """Run `headfuse serve ARGS` to its end: (exit code, last line of stderr), asserting no traceback."""
    cmd = [sys.executable, "-m", "backend", "serve", "--device", "cpu", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout, preexec_fn=preexec)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "listening on" not in proc.stdout, proc.stdout
    return proc.returncode, proc.stderr.strip().splitlines()[-1]


def test_an_address_that_is_not_one_or_is_taken(tmp_path):
    code, line = serve("--bind", "tcp://nonsense", "--store", str(tmp_path / "a"), "--workers", "0")
    assert code == 1 and line.startswith("serve: cannot listen on tcp://nonsense: Invalid argument"), line
    with ServerProcess(tmp_path / "b", None, 0) as first:
        code, line = serve("--bind", first.endpoint, "--store", str(tmp_path / "c"), "--workers", "0")
    assert code == 1 and f"cannot listen on {first.endpoint}: Address already in use" in line, line


def test_a_store_that_is_a_file_or_full(tmp_path):
    (tmp_path / "afile").write_text("x")
    code, line = serve("--store", str(tmp_path / "afile"), "--workers", "0")
    assert code == 1 and line.startswith(f"serve: job store {tmp_path / 'afile'}: cannot write"), line

    def full_disk():  # every write past 1 KiB fails with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    code, line = serve("--store", str(tmp_path / "full"), "--workers", "0", preexec=full_disk)
    assert code == 1 and f"serve: job store {tmp_path / 'full'}: cannot write" in line and "too large" in line, line


def test_missing_keys_or_an_empty_allow_list_end_at_once(tmp_path):
    code, line = serve("--store", str(tmp_path / "s"), "--workers", "0", "--curve-keys", str(tmp_path / "nokeys"),
                       timeout=30)  # fmt: skip
    assert code == 1 and "server.key_secret not found" in line, line
    keys = tmp_path / "keys"
    subprocess.run([sys.executable, "-m", "backend", "keys", "--out", str(keys)], check=True, cwd=ROOT, timeout=60,
                   capture_output=True)  # fmt: skip
    for key in (keys / "server" / "authorized_clients").glob("*.key"):
        key.unlink()
    code, line = serve("--store", str(tmp_path / "s"), "--workers", "0", "--curve-keys", str(keys / "server"),
                       timeout=30)  # fmt: skip
    assert code == 1 and "holds no client public keys" in line, line


def test_no_worker_can_start(tmp_path, weights):
    code, line = serve("--store", str(tmp_path / "s"), "--workers", "1", "--weights", str(weights),
                       "--device", "cuda")  # fmt: skip
    assert code == 1 and line.startswith("serve: no worker could start: worker 0 cannot start"), line
    assert "CUDA" in line, line


def test_exposed_endpoints_are_the_non_loopback_tcp_ones():
    assert exposed("tcp://0.0.0.0:5555") and exposed("tcp://192.168.1.20:5555") and exposed("tcp://*:5555")
    assert not any(exposed(e) for e in ("tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:2", "ipc:///tmp/x"))


def test_client_names_cannot_leave_the_key_folder(tmp_path):
    for name in ("..", ".", ".hidden"):
        proc = subprocess.run([sys.executable, "-m", "backend", "keys", "--out", str(tmp_path / "k"), "--clients",
                               name], capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
        assert proc.returncode == 1 and "client name" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("*.key_secret"))  # nothing written, inside the key folder or beside it


@pytest.fixture
def key_folder(tmp_path):
    keys = tmp_path / "keys"
    subprocess.run([sys.executable, "-m", "backend", "keys", "--out", str(keys), "--clients", "alice", "bob"],
                   check=True, cwd=ROOT, timeout=60, capture_output=True)  # fmt: skip
    return keys


def test_a_revoked_key_is_refused_without_a_restart(tmp_path, key_folder):
    import time

    from headfuse_wire.client import Client, RemoteError, ServerUnavailable

    with ServerProcess(tmp_path / "jobs", None, 0, extra=("--curve-keys", str(key_folder / "server"))) as srv:
        alice = Client(srv.endpoint, curve_keys=key_folder / "alice", timeout=5)
        bob = Client(srv.endpoint, curve_keys=key_folder / "bob", timeout=5)
        alice.hello(), bob.hello()
        (key_folder / "server" / "authorized_clients" / "bob.key").unlink()
        time.sleep(2.5)  # the server reads its allow-list again on its 1 s timer
        with pytest.raises(RemoteError) as err:
            bob.hello()  # an open connection
        assert err.value.code == "not_authorized"
        with Client(srv.endpoint, curve_keys=key_folder / "bob", timeout=2) as again, pytest.raises(ServerUnavailable):
            again.hello()  # a new connection: the handshake refuses it
        assert alice.hello()["version"] >= 1
        alice.close(), bob.close()
        zmq.auth.create_certificates(str(tmp_path), "carol")  # a key added is let in, also without a restart
        (tmp_path / "carol.key").rename(key_folder / "server" / "authorized_clients" / "carol.key")
        carol = key_folder / "carol"
        carol.mkdir()
        (tmp_path / "carol.key_secret").rename(carol / "client.key_secret")
        (carol / "server.key").write_bytes((key_folder / "alice" / "server.key").read_bytes())
        time.sleep(2.5)
        with Client(srv.endpoint, curve_keys=carol, timeout=5) as c:
            assert c.hello()["version"] >= 1
