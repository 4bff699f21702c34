"""Batches on a real local Ray cluster (127.0.0.1, 2 CPUs, no dashboard): a batch of clips through the CLI with
failing clips beside good ones, chunked against unchunked reconstruction, a Ray worker killed mid-chunk."""

import json
import os
import signal
import time

import numpy as np
import pytest

from backend.batch import STORE_DIR, Batch, BatchOptions, find_clips, plan_chunks
from backend.bench.batch import cut_sample_clip as cut_clip
from backend.cli import main
from backend.eval.seams import seam_variation, stored_planes
from backend.execution.ray_pool import RayPool
from backend.execution.store import JobStore
from backend.models.weights import load_networks
from backend.run.sinks import StoreSink
from backend.run.task import WorkTask, run_task
from headfuse_wire.options import ReconstructConfig

SMALL = ["--mode", "per-frame", "--mesh-res", "32", "--texture-size", "0", "--device", "cpu"]


def run_until_done(batch: Batch, timeout: float, on_event=None) -> None:
    """Step `batch` until it has finished; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not batch.finished:
        assert time.monotonic() < deadline, f"batch not finished after {timeout} s"
        batch.step(0.2)


def test_batch_of_clips_on_ray_with_a_corrupt_and_a_faceless_clip(tmp_path, ray_cluster):
    shots = tmp_path / "shots"
    shots.mkdir()
    for name, first in (("a", 0), ("b", 10)):
        cut_clip(shots / f"{name}.mp4", first, 6)
    cut_clip(tmp_path / "c.mp4", 20, 5, reference=False)  # no sidecar: uses --ref-frame
    (tmp_path / "list.txt").write_text("c.mp4\ncorrupt.mp4\nfaceless.mp4\n")
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    cut_clip(tmp_path / "faceless.mp4", 0, 3)
    from PIL import Image

    Image.new("RGB", (256, 256), (128, 128, 128)).save(tmp_path / "faceless.ref.png")  # a reference with no face
    out = tmp_path / "out"
    args = ["batch", str(shots / "*.mp4"), str(tmp_path / "list.txt"), "-o", str(out), "--ray", "local"]
    args += ["--workers", "2", "--chunk", "4", "--warmup", "2", "--ref-frame", "0", "--preview", "1", *SMALL]
    t0 = time.monotonic()
    code = main(args)
    assert code == 1  # two clips failed
    assert time.monotonic() - t0 < 400
    summary = {row["clip"]: row for row in json.loads((out / "summary.json").read_text())}
    assert set(summary) == {"a", "b", "c", "corrupt", "faceless"}
    assert "corrupt.mp4" in summary["corrupt"]["error"] and summary["corrupt"]["error"].startswith("bad_video")
    assert summary["faceless"]["error"].startswith("no_face") and "faceless.ref.png" in summary["faceless"]["error"]
    store = JobStore(out / STORE_DIR)
    for name, count in (("a", 6), ("b", 6), ("c", 5)):
        row = summary[name]
        assert row["error"] is None and row["frames"] == count and row["ok"] + row["held"] == count, row
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert [f["index"] for f in manifest["frames"]] == list(range(count))
        assert manifest["chunks"] == {"chunk": 4, "warmup": 2, "count": 2}
        for f in manifest["frames"]:
            assert (out / name / f["files"]["glb"]).stat().st_size > 1000
            assert np.array(f["camera"]["head_pose"]).shape == (4, 4)
        assert (out / name / "preview.png").stat().st_size > 1000 and not (out / name / ".preview").exists()
        headers = store.scan_frames(name)  # every frame exactly once, checksums verified
        assert [h["index"] for h in headers] == list(range(count))
        assert sorted(p.name for p in (store.job_dir(name) / "frames").iterdir()) == [
            f"{k:06d}.frame" for k in range(count)
        ]


@pytest.fixture(scope="module")
def networks():
    return load_networks(device="cpu")


def test_chunked_clip_matches_the_unchunked_clip_and_boundaries_do_not_show(tmp_path, ray_cluster, networks):
    clip = cut_clip(tmp_path / "long.mp4", 0, 12)
    job = ReconstructConfig(mode="fused", mesh_resolution=32, texture_size=0, triplanes=True, device="cpu")
    options = BatchOptions(job=job, chunk=4, warmup=4, preview_frames=0)
    pool = RayPool(2, tmp_path / "out" / STORE_DIR, defaults=ReconstructConfig(device="cpu"))
    try:
        batch = Batch(find_clips([str(clip)]), tmp_path / "out", pool, options)
        batch.start()
        run_until_done(batch, 300)
        batch.close()
    finally:
        pool.close()
    assert batch.clips["long"].error is None and batch.clips["long"].chunks == 3
    store = JobStore(tmp_path / "out" / STORE_DIR)
    chunked = stored_planes(store, "long", 12)
    # the same clip in one piece, in this process
    store.create({"job": "whole", "state": "running", "created": 0})
    task = WorkTask(job="whole", video=str(clip), reference=str(tmp_path / "long.ref.png"), options=job.to_wire())
    run_task(task, StoreSink(store, task.job, True), networks, lambda e: None, lambda: False, "cpu")
    whole = stored_planes(store, "whole", 12)
    change = np.mean([np.abs(whole[k] - whole[k - 1]).mean() for k in range(1, 12)])
    for k in range(12):
        diff = np.abs(chunked[k] - whole[k]).mean()
        assert diff < 0.3 * change, f"frame {k}: chunked differs from unchunked by {diff:.4f} (change {change:.4f})"
        cam_c = np.array(store.read_frame("long", k)[0]["camera"]["cam2world"])
        cam_w = np.array(store.read_frame("whole", k)[0]["camera"]["cam2world"])
        assert np.abs(cam_c - cam_w).max() < 0.003, f"frame {k}: camera differs by > 3 mm"
    seams = seam_variation(chunked, [4, 8])
    assert seams["ratio"] <= 1.2, seams


def test_a_killed_ray_worker_is_retried_and_every_frame_is_stored_once(tmp_path, ray_cluster):
    clip = cut_clip(tmp_path / "take.mp4", 0, 10)
    store_dir = tmp_path / "store"
    store = JobStore(store_dir)
    store.create({"job": "take", "state": "running", "created": 0})
    pool = RayPool(1, store_dir, defaults=ReconstructConfig(device="cpu"), max_restarts=2)
    try:
        pid = pool.info[0]["pid"]
        job = ReconstructConfig(mode="per-frame", mesh_resolution=32, texture_size=0)
        (task,) = plan_chunks("take", str(clip), 10, 10, 0, str(tmp_path / "take.ref.png"), job)
        pool.submit(task)
        frames, digests_at_kill, ends = [], None, []
        deadline = time.monotonic() + 300
        while pool.pending():
            assert time.monotonic() < deadline, "the chunk did not finish within 300 s"
            for _, event in pool.poll(0.2):
                if event["event"] == "frame":
                    frames.append(event["seq"])
                    if len(frames) == 3 and digests_at_kill is None:
                        digests_at_kill = [store.read_frame("take", s)[0]["digest"] for s in range(3)]
                        os.kill(pid, signal.SIGKILL)  # the actor's process dies mid-chunk
                elif event["event"] in ("finished", "failed"):
                    ends.append(event)
        new_pid = ray_cluster.get(pool.actors[0].ready.remote(), timeout=60)["pid"]
    finally:
        pool.close()
    assert new_pid != pid, "the actor was not restarted"
    assert [e["event"] for e in ends] == ["finished"] and ends[0]["state"] == "done", ends
    assert sorted(set(frames)) == list(range(10))  # every frame announced (Ray drops re-sent stream items)
    headers = store.scan_frames("take")
    assert [h["index"] for h in headers] == list(range(10))
    assert len(list((store_dir / "take" / "frames").iterdir())) == 10
    assert [h["digest"] for h in headers[:3]] == digests_at_kill  # frames stored before the kill were kept
