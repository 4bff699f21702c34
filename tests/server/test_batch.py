"""Batch planning without Ray: clip discovery and sidecars, chunk plans, warm-up in `run_task`, idempotent
store writes, the seam measurement."""

import json
import zlib

import numpy as np
import pytest

from backend.pipeline import load_networks
from backend.server.batch import BatchError, find_clips, plan_chunks, seam_variation
from backend.server.store import JobStore
from backend.server.work import WorkTask, run_task
from backend.synth import SAMPLE_CLIP_DIR

VIDEO = str(SAMPLE_CLIP_DIR / "video.mp4")
OPTIONS = {"reference": str(SAMPLE_CLIP_DIR / "reference.png"), "mode": "per-frame", "mesh_resolution": 32}
OPTIONS.update({"texture_size": 0, "triplanes": True})


def test_clips_from_files_globs_and_list_files_with_sidecars(tmp_path):
    (tmp_path / "shots").mkdir()
    for name in ("a", "b"):
        (tmp_path / "shots" / f"{name}.mp4").write_bytes(b"x")
    (tmp_path / "shots" / "a.ref.png").write_bytes(b"x")
    (tmp_path / "shots" / "b.ref.jpg").write_bytes(b"x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.mov").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# takes\nother/a.mov\n\nshots/b.mp4  # again\n")
    clips = find_clips([str(tmp_path / "shots" / "*"), str(tmp_path / "list.txt")], ref_frame=7)
    assert [c.name for c in clips] == ["a", "b", "a_2", "b_2"]  # sidecars matched by the glob are not clips
    assert clips[0].reference == tmp_path / "shots" / "a.ref.png" and clips[0].ref_frame is None
    assert clips[1].reference == tmp_path / "shots" / "b.ref.jpg"
    assert clips[2].video == tmp_path / "other" / "a.mov" and clips[2].reference is None and clips[2].ref_frame == 7
    with pytest.raises(BatchError, match="nothing.mp4 does not exist"):
        find_clips([str(tmp_path / "nothing.mp4")])
    with pytest.raises(BatchError, match="matches no file"):
        find_clips([str(tmp_path / "*.mkv")])
    (tmp_path / "bad.list").write_text("missing.mp4\n")
    with pytest.raises(BatchError, match=r"bad.list:1: .*missing.mp4 does not exist"):
        find_clips([str(tmp_path / "bad.list")])


def test_chunk_plan_covers_every_frame_once_with_warmup_after_the_first():
    tasks = plan_chunks("job", "clip.mp4", 10, 4, 3, reference="ref.png")
    assert [(t.start, t.stop, t.first_seq, t.warmup) for t in tasks] == [(0, 4, 0, 3), (4, 8, 4, 3), (8, 10, 8, 3)]
    with pytest.raises(BatchError):
        plan_chunks("job", "clip.mp4", 10, 0, 0)


def test_seam_variation_finds_a_jump_at_a_chunk_start():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(0, 0.01, (12, 3, 2, 4, 4)), axis=0)
    smooth = seam_variation(list(walk), [4, 8])
    assert 0.5 < smooth["ratio"] < 1.5
    walk[8:] += 0.05  # a visible jump where the third chunk starts
    jumpy = seam_variation(list(walk), [4, 8])
    assert jumpy["ratio"] > 2 * smooth["ratio"] and jumpy["within"] == pytest.approx(smooth["within"])


def test_store_keeps_a_stored_frame_when_a_retry_writes_it_again(tmp_path):
    store = JobStore(tmp_path)
    store.create({"job": "j", "state": "running", "created": 0})
    first, second = np.zeros(3, np.float32), np.ones(3, np.float32)

    def header(index, data):
        desc = {"name": "v", "dtype": "float32", "shape": [3], "nbytes": 12, "crc32": zlib.crc32(data.tobytes())}
        return {"seq": 0, "index": index, "buffers": [desc]}

    kept = store.write_frame("j", 0, header(5, first), [first])
    again = store.write_frame("j", 0, header(5, second), [second])  # the same frame, re-run after a crash
    assert again["digest"] == kept["digest"]
    assert np.frombuffer(store.read_frame("j", 0, verify=True)[1][0], np.float32).tolist() == [0, 0, 0]
    other = store.write_frame("j", 0, header(6, second), [second])  # another source frame replaces it
    assert other["digest"] != kept["digest"] and store.read_frame("j", 0)[0]["index"] == 6


@pytest.fixture(scope="module")
def networks():
    return load_networks(device="cpu")


def _run(task: WorkTask, store: JobStore, networks) -> list[dict]:
    store.create({"job": task.job, "state": "running", "created": 0})
    events = []
    result = run_task(task, store, networks, events.append, lambda: False, "cpu")
    assert result["state"] == "done", result
    return events


def test_warmup_frames_are_computed_but_neither_stored_nor_reported(tmp_path, networks):
    store = JobStore(tmp_path)
    base = _run(WorkTask(job="base", video=VIDEO, stop=6, **OPTIONS), store, networks)
    assert [e["index"] for e in base if e["event"] == "frame"] == list(range(6))
    warm = _run(WorkTask(job="warm", video=VIDEO, start=4, stop=6, first_seq=4, warmup=3, **OPTIONS), store, networks)
    cold = _run(WorkTask(job="cold", video=VIDEO, start=4, stop=6, first_seq=4, **OPTIONS), store, networks)
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
    task = WorkTask(job="s", video=VIDEO, start=5, stop=8, stride=2, warmup=5, **OPTIONS)  # would start at -5
    events = _run(task, store, networks)
    assert [e["index"] for e in events if e["event"] == "frame"] == [5, 7]



def test_a_second_run_keeps_finished_clips_and_redoes_the_rest(tmp_path):
    from backend.bench.batch import cut_sample_clip
    from backend.cli import main

    for name, first in (("a", 0), ("b", 10)):
        cut_sample_clip(tmp_path / f"{name}.mp4", first, 2)
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "*.mp4"), "-o", str(out), "--chunk", "2", "--preview", "0", "--mode", "per-frame",
            "--mesh-res", "32", "--texture", "0", "--device", "cpu"]

    def summary():
        return {row["clip"]: row for row in json.loads((out / "summary.json").read_text())}

    assert main(args) == 0
    assert not any(row["kept"] for row in summary().values())
    stamp_b = (out / "b" / "manifest.json").stat().st_mtime_ns
    (out / "a" / "meshes" / "frame_000001.glb").unlink()  # a lost a file: redone; b is complete: kept
    assert main(args) == 0
    rows = summary()
    assert not rows["a"]["kept"] and rows["b"]["kept"] and rows["b"]["frames"] == 2
    assert (out / "a" / "meshes" / "frame_000001.glb").stat().st_size > 1000
    assert (out / "b" / "manifest.json").stat().st_mtime_ns == stamp_b
    assert main([*args, "--redo"]) == 0
    assert not any(row["kept"] for row in summary().values())
    assert (out / "b" / "manifest.json").stat().st_mtime_ns != stamp_b
