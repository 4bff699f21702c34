"""The wire protocol alone: encoding, strict validation of every header, buffer checks. No sockets."""

import json
import zlib

import numpy as np
import pytest

from headfuse_wire import protocol as P


def _frame_message():
    vertices = np.arange(12, dtype=np.float32).reshape(4, 3)
    faces = np.array([[0, 1, 2], [1, 2, 3]], dtype=np.int32)
    png = b"\x89PNG fake but only bytes here"
    header = {
        "job": "0123456789abcdef",
        "seq": 0,
        "index": 5,
        "status": "ok",
        "reason": None,
        "camera": {"head_pose": np.eye(4).tolist(), "yaw_deg": 3.5},
        "timings_ms": {"encode": 12.5},
        "digest": "a" * 64,
        "buffers": [
            P.describe("vertices", vertices),
            P.describe("faces", faces),
            P.describe("texture", png, "png", (8, 8, 3)),
        ],
    }
    return header, [vertices, faces, png]


def _raw(header: dict, buffers=()) -> list:
    payload = [bytes(memoryview(b).cast("B")) for b in buffers]
    return [json.dumps({"v": P.PROTOCOL_VERSION, **header}).encode(), *payload]


def test_frame_round_trip_keeps_arrays_and_fields():
    header, buffers = _frame_message()
    frames = [bytes(memoryview(f).cast("B")) for f in P.encode("FRAME", header, buffers)]
    msg = P.decode(frames)
    assert msg.type == "FRAME" and msg.header["index"] == 5 and msg.header["camera"]["yaw_deg"] == 3.5
    assert np.array_equal(msg.array("vertices"), buffers[0]) and msg.array("faces").dtype == np.int32
    assert bytes(msg.buffers["texture"]) == buffers[2] and msg.array("uv") is None


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda h: h.pop("seq"), "missing required key 'seq'"),
        (lambda h: h.update(extra=1), "unknown key 'extra'"),
        (lambda h: h.update(seq=-1), "seq: expected a number in"),
        (lambda h: h.update(seq=True), "seq: expected an integer"),
        (lambda h: h.update(status="great"), "status: expected one of ok, held, skipped"),
        (lambda h: h.update(job="../../etc"), "job: expected a string matching"),
        (lambda h: h.update(reason="x" * 5000), "at most 2000 characters"),
        (lambda h: h["camera"].update(m=[[[[1]]]]), "nested at most twice"),
        (lambda h: h["buffers"][0].update(dtype="int32"), "dtype float32"),
        (lambda h: h["buffers"][0].update(shape=[4, 4]), "rank 2 ending in 3"),
        (lambda h: h["buffers"][0].update(nbytes=40), "nbytes ="),
        (lambda h: h["buffers"][1].update(crc32=1), "CRC-32 mismatch"),
        (lambda h: h["buffers"][1].update(name="vertices"), "buffer names repeat"),
    ],
)
def test_frame_header_violations_are_named(change, words):
    header, buffers = _frame_message()
    header["type"] = "FRAME"
    change(header)
    with pytest.raises(P.ProtocolError) as err:
        P.decode(_raw(header, buffers))
    assert err.value.code == "bad_message" and words in err.value.message


@pytest.mark.parametrize(
    "frames, words",
    [
        ([], "empty message"),
        ([b"\xff\xfe"], "not valid UTF-8 JSON"),
        ([b"[" * 40_000], "not valid UTF-8 JSON"),
        ([b'{"type": "HELLO", "v": %d, "version": NaN, "capabilities": []}' % P.PROTOCOL_VERSION],
         "not valid UTF-8 JSON"),
        ([b'"HELLO"'], "expected a JSON object"),
        ([b'{"type": "PICKLE", "v": %d}' % P.PROTOCOL_VERSION], "header.type: expected one of"),
        ([b'{"type": "HEARTBEAT", "v": %d}' % P.PROTOCOL_VERSION, b"surplus"], "describes 0 buffers, 1 arrived"),
        ([b'{"type": "HEARTBEAT", "v": %d}' % P.PROTOCOL_VERSION] + [b""] * 20, "at most 16 buffers"),
        ([b" " * (P.MAX_HEADER_BYTES + 1)], "the limit is"),
    ],
)
def test_malformed_messages_raise_protocol_errors(frames, words):
    with pytest.raises(P.ProtocolError) as err:
        P.decode(frames)
    assert words in err.value.message


def test_version_mismatch_names_both_versions():
    with pytest.raises(P.ProtocolError) as err:
        P.decode([json.dumps({"type": "HELLO", "v": 99, "version": 99, "capabilities": []}).encode()])
    assert err.value.code == "version_mismatch"
    assert "version 99" in err.value.message and f"version {P.PROTOCOL_VERSION}" in err.value.message


def test_each_side_accepts_only_its_peer_messages_and_upload_chunks_are_checked():
    frame = P.encode("HEARTBEAT", {"req": 1})
    assert P.decode(frame, allowed=P.CLIENT_TYPES).type == "HEARTBEAT"
    with pytest.raises(P.ProtocolError, match="not a message this side accepts"):
        P.decode(P.encode("DONE", {"job": "0" * 16, "state": "done", "frames": 1, "ok": 1, "held": 0, "skipped": 0}),
                 allowed=P.CLIENT_TYPES)  # fmt: skip
    chunk = b"abc" * 100
    header = {"job": "0" * 16, "file": "video", "offset": 0, "buffers": [P.describe("chunk", chunk, "bytes")]}
    assert bytes(P.decode(P.encode("UPLOAD", header, [chunk])).buffers["chunk"]) == chunk
    header["buffers"][0]["crc32"] = zlib.crc32(b"other")
    with pytest.raises(P.ProtocolError, match="CRC-32"):
        P.decode(P.encode("UPLOAD", header, [chunk]))
    with pytest.raises(P.ProtocolError, match="unknown key"):
        P.encode("STATUS", {"job": "0" * 16, "path": "/etc/passwd"})


def test_every_error_code_encodes():
    for code in P.ERROR_CODES:
        msg = P.decode(P.error(code, "message", req=3, job="0" * 16, index=2))
        assert msg.header["code"] == code and msg.header["index"] == 2
