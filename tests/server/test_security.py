"""Hostile or mistaken peers: fuzzed and malformed messages, oversize messages, version mismatch, CURVE."""

import json
import random
import subprocess
import sys

import pytest
import zmq
import zmq.auth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headfuse_wire import protocol as P
from headfuse_wire.client import Client, ServerUnavailable
from tests.server.conftest import ROOT, ServerProcess


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """A server with no workers (these tests need none), 1 MiB message limit."""
    srv = ServerProcess(tmp_path_factory.mktemp("sec") / "jobs", None, 0, extra=("--max-message-mb", "1"))
    yield srv
    srv.stop()


def _dealer(endpoint: str) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def _hello_ok(endpoint: str) -> bool:
    with Client(endpoint, timeout=5) as c:
        return c.hello()["version"] == P.PROTOCOL_VERSION


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=12,
)
_types = st.sampled_from([*P.SCHEMAS, "NOPE", ""]) | st.text(max_size=8)
_keys = st.sampled_from(["req", "job", "version", "capabilities", "options", "inputs", "file", "offset", "buffers",
                         "from_seq", "credit", "limit", "seq", "code"])  # fmt: skip
_header = st.fixed_dictionaries(
    {"type": _types, "v": st.sampled_from([1, 1, 1, 0, 2, "1", None])},
    optional={k: _json for k in ["req", "job", "version", "capabilities", "options", "inputs", "credit"]},
) | st.dictionaries(_keys, _json, max_size=6).map(lambda d: {"type": "SUBMIT", "v": P.PROTOCOL_VERSION, **d})


def _as_frames(header, extra: list[bytes]) -> list[bytes]:
    return [json.dumps(header).encode(), *extra]


def _fuzz_structured(sock: zmq.Socket, examples: int) -> None:
    """`examples` schema-aware fuzzed headers from hypothesis, each of which must be answered."""

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(header=_header, extra=st.lists(st.binary(max_size=64), max_size=3))
    def one(header, extra):
        sock.send_multipart(_as_frames(header, extra))
        assert sock.poll(5000), f"no answer to {header}"
        reply = P.decode(sock.recv_multipart())
        assert reply.type in ("ERROR", "HELLO", "HEARTBEAT", "JOBS", "JOB", "ACCEPTED")

    one()


def _fuzz_random(sock: zmq.Socket, count: int, seed: int) -> None:
    """`count` damaged messages of five kinds, sent in batches of 100; every one must be answered."""
    rng = random.Random(seed)
    valid = P.encode("HELLO", {"req": 1, "version": 1, "capabilities": []})[0]
    sent = 0
    while sent < count:
        batch = []
        for _ in range(100):
            kind = rng.randrange(5)
            if kind == 0:  # random bytes
                frames = [rng.randbytes(rng.randrange(0, 200))]
            elif kind == 1:  # a valid header with bytes flipped
                raw = bytearray(valid)
                for _ in range(rng.randrange(1, 4)):
                    raw[rng.randrange(len(raw))] = rng.randrange(256)
                frames = [bytes(raw)]
            elif kind == 2:  # deep nesting, huge numbers, NaN
                frames = [rng.choice([b"[" * 50_000, b'{"type":"HELLO","v":1e999}', b'{"type":NaN}', b"\xff\xfe"])]
            elif kind == 3:  # too many frames
                frames = [valid] + [b"x"] * rng.randrange(1, 20)
            else:  # a buffer that lies about its size
                desc = {"name": "chunk", "dtype": "bytes", "shape": [10], "nbytes": 10, "crc32": 0}
                hdr = {"type": "UPLOAD", "v": P.PROTOCOL_VERSION, "job": "0" * 16, "file": "video", "offset": 0,
                       "buffers": [desc]}  # fmt: skip
                frames = [json.dumps(hdr).encode(), rng.randbytes(rng.randrange(0, 20))]
            batch.append(frames)
        for frames in batch:
            sock.send_multipart(frames)
        sent += len(batch)
        answers = 0
        while answers < len(batch) and sock.poll(5000):
            reply = P.decode(sock.recv_multipart())
            assert reply.type in ("ERROR", "HELLO")
            answers += 1
        assert answers == len(batch), f"{len(batch) - answers} of a batch of fuzzed messages went unanswered"


def test_a_thousand_malformed_messages_then_hello_still_works(bare_server):
    sock = _dealer(bare_server.endpoint)
    _fuzz_structured(sock, 300)
    _fuzz_random(sock, 700, seed=1)
    sock.close()
    assert bare_server.alive() and _hello_ok(bare_server.endpoint)


@pytest.mark.slow
def test_ten_thousand_malformed_messages_then_hello_still_works(bare_server):
    sock = _dealer(bare_server.endpoint)
    _fuzz_structured(sock, 3_000)
    _fuzz_random(sock, 7_000, seed=0)
    sock.close()
    assert bare_server.alive() and _hello_ok(bare_server.endpoint)


def test_oversize_message_is_refused_and_the_server_goes_on(bare_server):
    sock = _dealer(bare_server.endpoint)
    sock.send_multipart([b'{"type":"HEARTBEAT","v":1}', b"\0" * (2 * 1024 * 1024)])  # over the 1 MiB limit
    assert not sock.poll(1500)  # ZMQ_MAXMSGSIZE: the server dropped this peer, nothing is answered
    sock.close()
    sock = _dealer(bare_server.endpoint)  # a declared upload over the limit is refused by SUBMIT
    big = {"filename": "v.mp4", "size": 10**12, "sha256": "0" * 64}
    ref = {"filename": "r.png", "size": 10, "sha256": "0" * 64}
    sock.send_multipart(P.encode("SUBMIT", {"req": 3, "options": {}, "inputs": {"video": big, "reference": ref}}))
    assert sock.poll(5000)
    reply = P.decode(sock.recv_multipart())
    assert reply.header["code"] == "too_large" and "at most" in reply.header["message"]
    sock.close()
    assert _hello_ok(bare_server.endpoint)


def test_protocol_version_mismatch_names_both_versions(bare_server):
    sock = _dealer(bare_server.endpoint)
    other = P.PROTOCOL_VERSION + 1
    hello = {"type": "HELLO", "v": other, "req": 7, "version": other, "capabilities": []}
    sock.send_multipart([json.dumps(hello).encode()])
    assert sock.poll(5000)
    reply = P.decode(sock.recv_multipart())
    assert reply.header["code"] == "version_mismatch" and reply.header["req"] == 7
    assert f"version {other}" in reply.header["message"]
    assert f"speaks version {P.PROTOCOL_VERSION}" in reply.header["message"]
    hello = P.encode("HELLO", {"req": 8, "version": 1, "capabilities": []}, validate=False)
    sock.send_multipart([hello[0].replace(b'"version":1', b'"version":9')])
    assert sock.poll(5000)
    reply = P.decode(sock.recv_multipart())
    assert reply.header["code"] == "version_mismatch" and "version 9" in reply.header["message"]
    assert f"version {P.PROTOCOL_VERSION}" in reply.header["message"]
    sock.close()


def test_curve_refuses_unauthenticated_clients(tmp_path):
    keys = tmp_path / "keys"
    out = subprocess.run(
        [sys.executable, "-m", "backend", "keys", "--out", str(keys), "--clients", "alice"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    intruder = tmp_path / "intruder"  # a well-formed key pair that is not on the allow-list
    intruder.mkdir()
    zmq.auth.create_certificates(str(intruder), "client")
    (intruder / "server.key").write_bytes((keys / "alice" / "server.key").read_bytes())
    srv = ServerProcess(tmp_path / "jobs", None, 0, extra=("--curve-keys", str(keys / "server")))
    try:
        with Client(srv.endpoint, curve_keys=keys / "alice", timeout=5) as c:
            assert "curve" in c.hello()["capabilities"]
        for kwargs in ({"curve_keys": intruder}, {}):
            with Client(srv.endpoint, timeout=2, **kwargs) as c:
                with pytest.raises(ServerUnavailable) as err:
                    c.hello()
                assert srv.endpoint in str(err.value)
        assert srv.alive()
    finally:
        srv.stop()
