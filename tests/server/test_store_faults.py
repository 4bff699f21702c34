"""The store's disk failing under a running server, and a store reached from another working directory."""

import shutil
from pathlib import Path

import pytest

from headfuse_wire.client import Client, RemoteError
from tests.server.conftest import FAST, ServerProcess, wait_for


def test_a_job_whose_folder_is_lost_fails_naming_the_path_and_the_others_go_on(tmp_path, weights, clip):
    store = tmp_path / "jobs"
    with ServerProcess(store, weights, 1) as srv, Client(srv.endpoint, timeout=10) as c:
        lost = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "name": "lost"})
        wait_for(lambda: c.status(lost)["frames_done"] >= 1, 120, "the first job's first frame")
        shutil.rmtree(store / lost)  # the disk under the job is gone (a lost mount, a full or broken disk)
        other = c.submit(clip / "video.mp4", clip / "reference.png", {**FAST, "name": "other"})
        wait_for(lambda: c.status(lost)["state"] == "failed", 120, "the lost job to fail")
        error = c.status(lost)["error"]
        assert error["code"] == "storage" and str(store / lost) in error["message"], error
        with pytest.raises(RemoteError) as err:
            list(c.frames(lost))
        assert err.value.code == "storage"
        frames = list(c.frames(other))
        assert len(frames) == 6 and c.status(other)["state"] == "done"
        assert srv.alive() and c.hello()["workers"] == {"wanted": 1, "ready": 1, "errors": []}


def test_a_restart_from_another_directory_finds_the_inputs(tmp_path, weights, clip):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    with ServerProcess(Path("jobs"), None, 0, cwd=first) as srv, Client(srv.endpoint, timeout=10) as c:
        job = c.submit(clip / "video.mp4", clip / "reference.png", FAST)  # uploaded into first/jobs, no worker
        assert c.status(job)["state"] == "queued"
    with ServerProcess(first / "jobs", weights, 1, cwd=second) as srv, Client(srv.endpoint, timeout=10) as c:
        frames = list(c.frames(job))
        assert len(frames) == 6 and c.status(job)["state"] == "done", c.status(job)
