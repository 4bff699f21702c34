"""Batch planning without Ray: clip discovery and sidecars, chunk plans, idempotent store writes."""

import json
import zlib

import numpy as np
import pytest

from backend.batch import BatchError, find_clips, plan_chunks
from backend.execution.store import JobStore
from backend.synth import SAMPLE_CLIP_DIR
from headfuse_wire.options import ReconstructConfig

VIDEO = str(SAMPLE_CLIP_DIR / "video.mp4")
REFERENCE = str(SAMPLE_CLIP_DIR / "reference.png")
JOB = {"mode": "per-frame", "mesh_resolution": 32, "texture_size": 0, "triplanes": True}


def test_clips_from_files_globs_and_list_files_with_sidecars(tmp_path):
    (tmp_path / "shots").mkdir()
    for name in ("a", "b"):
        (tmp_path / "shots" / f"{name}.mp4").write_bytes(b"x")
    (tmp_path / "shots" / "a.ref.png").write_bytes(b"x")
    (tmp_path / "shots" / "b.ref.jpg").write_bytes(b"x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.mov").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# takes\nother/a.mov\n\nshots/b.mp4  # again\n")
    clips = find_clips([str(tmp_path / "shots" / "*"), str(tmp_path / "list.txt")])
    assert [c.name for c in clips] == ["a", "b", "a_2", "b_2"]  # sidecars matched by the glob are not clips
    assert clips[0].reference == tmp_path / "shots" / "a.ref.png"
    assert clips[1].reference == tmp_path / "shots" / "b.ref.jpg"
    assert clips[2].video == tmp_path / "other" / "a.mov" and clips[2].reference is None
    with pytest.raises(BatchError, match="nothing.mp4 does not exist"):
        find_clips([str(tmp_path / "nothing.mp4")])
    with pytest.raises(BatchError, match="matches no file"):
        find_clips([str(tmp_path / "*.mkv")])
    (tmp_path / "bad.list").write_text("missing.mp4\n")
    with pytest.raises(BatchError, match=r"bad.list:1: .*missing.mp4 does not exist"):
        find_clips([str(tmp_path / "bad.list")])


def test_chunk_plan_covers_every_frame_once_with_warmup_after_the_first():
    tasks = plan_chunks("job", "clip.mp4", 10, 4, 3, reference="ref.png")
    plan = [(t.options["start"], t.options["stop"], t.first_seq, t.warmup) for t in tasks]
    assert plan == [(0, 4, 0, 3), (4, 8, 4, 3), (8, 10, 8, 3)]
    # a frame range: frames 1, 4, 7 of 10 in chunks of two taken frames, stored at 0, 1, 2
    tasks = plan_chunks("job", "clip.mp4", 10, 2, 0, "ref.png", ReconstructConfig(start=1, stop=9, stride=3))
    assert [(t.options["start"], t.options["stop"], t.first_seq) for t in tasks] == [(1, 7, 0), (7, 9, 2)]
    assert all(t.options["stride"] == 3 and t.config().stride == 3 for t in tasks)
    with pytest.raises(BatchError):
        plan_chunks("job", "clip.mp4", 10, 0, 0)


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


def test_a_second_run_keeps_finished_clips_and_redoes_the_rest(tmp_path):
    from backend.bench.batch import cut_sample_clip
    from backend.cli import main

    for name, first in (("a", 0), ("b", 10)):
        cut_sample_clip(tmp_path / f"{name}.mp4", first, 2)
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "*.mp4"), "-o", str(out), "--chunk", "2", "--preview", "0", "--mode", "per-frame",
            "--mesh-res", "32", "--texture-size", "0", "--device", "cpu"]

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


def test_a_batch_with_mattes_writes_them_and_a_clean_plate_per_clip(tmp_path):
    from PIL import Image

    from backend.bench.batch import cut_sample_clip
    from backend.cli import main

    cut_sample_clip(tmp_path / "a.mp4", 0, 4)
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "a.mp4"), "-o", str(out), "--chunk", "2", "--preview", "0", "--mode", "per-frame",
            "--mesh-res", "32", "--texture-size", "0", "--device", "cpu", "--mattes"]  # fmt: skip
    assert main(args) == 0
    manifest = json.loads((out / "a" / "manifest.json").read_text())
    entries = manifest["frames"] + manifest["skipped"]
    assert len(entries) == 4 and all((out / "a" / e["matte"]).is_file() for e in entries)  # across both chunks
    plate = Image.open(out / "a" / manifest["clean_plate"])
    assert plate.size == (manifest["source"]["width"], manifest["source"]["height"])
