"""The one run path: the same task into the job store and into a folder gives the same frames; warm-up
frames are computed but neither stored nor reported; bad input is one `WorkError` line and keeps nothing
half-written."""

import json

import numpy as np
import pytest

from backend.execution.store import JobStore
from backend.models.weights import load_networks
from backend.run.sinks import Both, ClipFiles, FolderSink, StoreSink
from backend.run.task import WorkError, WorkTask, run_task
from backend.synth import SAMPLE_CLIP_DIR
from headfuse_wire.options import ReconstructConfig

VIDEO = str(SAMPLE_CLIP_DIR / "video.mp4")
REFERENCE = str(SAMPLE_CLIP_DIR / "reference.png")
JOB = {"mode": "per-frame", "mesh_resolution": 32, "texture_size": 0, "triplanes": True}


@pytest.fixture(scope="module")
def networks():
    return load_networks(device="cpu")


def _run(task: WorkTask, store: JobStore, networks) -> list[dict]:
    store.create({"job": task.job, "state": "running", "created": 0})
    events = []
    result = run_task(task, StoreSink(store, task.job, True), networks, events.append, lambda: False, "cpu")
    assert result["state"] == "done", result
    return events


def test_warmup_frames_are_computed_but_neither_stored_nor_reported(tmp_path, networks):
    store = JobStore(tmp_path)
    base = _run(WorkTask("base", VIDEO, REFERENCE, {**JOB, "stop": 6}), store, networks)
    assert [e["index"] for e in base if e["event"] == "frame"] == list(range(6))
    warm_task = WorkTask("warm", VIDEO, REFERENCE, {**JOB, "start": 4, "stop": 6}, first_seq=4, warmup=3)
    warm = _run(warm_task, store, networks)
    cold = _run(WorkTask("cold", VIDEO, REFERENCE, {**JOB, "start": 4, "stop": 6}, first_seq=4), store, networks)
    for events in (warm, cold):
        frames = [e for e in events if e["event"] == "frame"]
        assert [(e["seq"], e["index"]) for e in frames] == [(4, 4), (5, 5)]
    for job in ("warm", "cold"):
        assert sorted(p.name for p in (store.job_dir(job) / "frames").iterdir()) == ["000004.frame", "000005.frame"]

    def planes(job, seq):
        header, buffers = store.read_frame(job, seq, verify=True)
        names = [b["name"] for b in header["buffers"]]
        return np.frombuffer(buffers[names.index("planes")], np.float16).astype(np.float32)

    # the warmed chunk's first frame matches the unchunked run much better than a cold start does
    warm_err = np.abs(planes("warm", 4) - planes("base", 4)).mean()
    cold_err = np.abs(planes("cold", 4) - planes("base", 4)).mean()
    assert warm_err < 0.5 * cold_err, (warm_err, cold_err)


def test_warmup_keeps_the_stride_phase_and_stops_at_frame_zero(tmp_path, networks):
    store = JobStore(tmp_path)
    task = WorkTask("s", VIDEO, REFERENCE, {**JOB, "start": 5, "stop": 8, "stride": 2}, warmup=5)  # would start at -5
    events = _run(task, store, networks)
    assert [e["index"] for e in events if e["event"] == "frame"] == [5, 7]




def test_the_same_task_into_the_store_and_into_a_folder_gives_the_same_frames(tmp_path, networks):
    cfg = ReconstructConfig(mode="per-frame", mesh_resolution=32, texture_size=16, start=1, stop=7, stride=2)
    task = WorkTask("t", VIDEO, REFERENCE, cfg.to_wire())
    store = JobStore(tmp_path / "store")
    store.create({"job": "t", "state": "running", "created": 0})
    folder = FolderSink(tmp_path / "out", VIDEO, REFERENCE, cfg, ["glb", "ply"], preview=2)
    events = []
    run_task(task, Both(StoreSink(store, "t"), folder), networks, events.append, lambda: False, "cpu")
    folder.close(1.0)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [f["index"] for f in manifest["frames"]] == [1, 3, 5] and manifest["skipped"] == []
    assert manifest["options"] == cfg.to_wire() and manifest["source"]["fps"] == 12.0
    assert (tmp_path / "out" / "preview.png").stat().st_size > 1000 and not (tmp_path / "out" / ".preview").exists()
    for seq, entry in enumerate(manifest["frames"]):
        header, buffers = store.read_frame("t", seq, verify=True)
        shapes = {b["name"]: b["shape"] for b in header["buffers"]}
        assert header["index"] == entry["index"] and header["camera"] == entry["camera"]
        assert shapes["vertices"][0] == entry["vertices"] and shapes["faces"][0] == entry["faces"]
        assert (tmp_path / "out" / entry["files"]["glb"]).stat().st_size > 1000
        assert (tmp_path / "out" / entry["files"]["ply"]).is_file()
    frames = [e for e in events if e["event"] == "frame"]
    assert [e["entry"]["index"] for e in frames] == [1, 3, 5]  # the folder's entries travel with the reports


def test_clip_files_alone_write_meshes_and_return_entries(tmp_path, networks):
    task = WorkTask("c", VIDEO, REFERENCE, {**JOB, "stop": 2})
    files = ClipFiles(tmp_path, ["obj"], preview=[])
    events = []
    run_task(task, files, networks, events.append, lambda: False, "cpu")
    assert sorted(p.name for p in (tmp_path / "meshes").glob("*.obj")) == ["frame_000000.obj", "frame_000001.obj"]
    assert [e["entry"]["files"]["obj"] for e in events if e["event"] == "frame"] == [
        "meshes/frame_000000.obj", "meshes/frame_000001.obj"
    ]  # fmt: skip


def test_bad_input_is_one_work_error_and_the_folder_gets_no_manifest(tmp_path, networks):
    cases = [
        (WorkTask("v", str(tmp_path / "none.mp4"), REFERENCE, JOB), "bad_video", "none.mp4"),
        (WorkTask("r", VIDEO, str(tmp_path / "none.png"), JOB), "bad_reference", "none.png"),
        (WorkTask("f", VIDEO, "", {**JOB, "reference_frame": 999}), "bad_reference", "reference frame 999"),
        (WorkTask("o", VIDEO, REFERENCE, {**JOB, "mesh_resolution": 50}), "bad_options", "mesh_resolution 50"),
    ]
    for task, code, named in cases:
        sink = FolderSink(tmp_path / task.job, task.video, task.reference, ReconstructConfig(), ["glb"])
        with pytest.raises(WorkError) as err:
            run_task(task, sink, networks, lambda e: None, lambda: False, "cpu")
        assert err.value.code == code and named in err.value.message and "\n" not in err.value.message
        assert not (tmp_path / task.job / "manifest.json").exists()
