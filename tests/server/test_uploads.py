"""Uploads into the store: chunks in order, a wrong offset or size refused, the SHA-256 checked at the end."""

import hashlib

import pytest

from backend.execution.store import JobStore
from backend.server.security import Refused
from backend.server.uploads import UploadCorrupt, all_received, receive_chunk


def record(tmp_path, data: bytes, sha: str | None = None):
    path = tmp_path / "video.mp4"
    path.touch()
    spec = {"path": str(path), "size": len(data), "sha256": sha or hashlib.sha256(data).hexdigest(), "received": 0}
    return {"job": "j1", "state": "uploading", "inputs": {"video": spec, "reference": {"path": "r.png", "local": True}}}


def test_chunks_in_order_make_the_file_and_complete_it(tmp_path):
    data = bytes(range(256)) * 10
    rec = record(tmp_path, data)
    assert receive_chunk(JobStore(tmp_path), rec, "video", 0, data[:1000]) is False and not all_received(rec)
    with pytest.raises(Refused, match="offset 500, expected offset 1000") as err:
        receive_chunk(JobStore(tmp_path), rec, "video", 500, data[500:1000])
    assert err.value.code == "bad_upload"
    with pytest.raises(Refused, match="more than the 2560 bytes") as err:
        receive_chunk(JobStore(tmp_path), rec, "video", 1000, data[1000:] + b"x")
    assert err.value.code == "too_large"
    assert receive_chunk(JobStore(tmp_path), rec, "video", 1000, data[1000:]) is True and all_received(rec)
    assert (tmp_path / "video.mp4").read_bytes() == data


def test_a_wrong_digest_is_corrupt_and_a_job_not_uploading_is_refused(tmp_path):
    rec = record(tmp_path, b"abc", sha="0" * 64)
    with pytest.raises(UploadCorrupt, match="SHA-256"):
        receive_chunk(JobStore(tmp_path), rec, "video", 0, b"abc")
    rec["state"] = "queued"
    with pytest.raises(Refused, match="is queued, not uploading"):
        receive_chunk(JobStore(tmp_path), rec, "video", 3, b"")
    rec["state"] = "uploading"
    with pytest.raises(Refused, match="local path"):
        receive_chunk(JobStore(tmp_path), rec, "reference", 0, b"x")
