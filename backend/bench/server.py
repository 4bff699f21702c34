"""Inference server benchmark: result streaming throughput and per-frame latency overhead.

Throughput: a job store holding finished frames of production size (mesh 128^3: ~50k vertices,
~100k faces, colours, UVs, normals, a 512 px PNG texture) is served by `headfuse serve` (no
workers) and fetched with the shared client (credits, checksums, decoding into arrays); the
baseline is raw pyzmq on loopback in the same run: the same multipart messages pushed from another
process as fast as ZeroMQ goes. `throughput_ratio` = server MB/s / raw MB/s (goal >= 0.5).

Overhead: the sample clip reconstructed in-process with `pipeline.reconstruct_clip` (model loaded
beforehand) against the same clip submitted to a server with one worker (model loaded at start,
a warm-up job first), wall time per frame from submit to last frame received. `overhead_ratio` =
server ms per frame / in-process ms per frame (goal <= 1.10).
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from backend.server.process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]

_RAW_SENDER = """
import sys, zmq
from backend.execution.store import JobStore
store, job, n, rounds, endpoint = JobStore(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
from headfuse_wire import protocol as P
messages = [P.encode("FRAME", *store.read_frame(job, k), validate=False) for k in range(n)]
sock = zmq.Context().socket(zmq.PUSH)
sock.connect(endpoint)
for r in range(rounds):
    for m in messages:
        sock.send_multipart(m)
sock.close(linger=60_000)
"""


RAW_TIMEOUT_S = 60.0
"""Longest wait for the raw sender's next message (or its exit) before the benchmark gives up."""


def _raw_receive(pull, sender: subprocess.Popen) -> None:
    """One message from the raw sender, or SystemExit saying what was waited for once it stopped sending."""
    if not pull.poll(int(RAW_TIMEOUT_S * 1000)):
        raise SystemExit(f"bench server: the raw pyzmq sender (exit code {sender.poll()}) sent nothing for "
                         f"{RAW_TIMEOUT_S:.0f} s; gave up waiting for its frames")  # fmt: skip
    msg = pull.recv_multipart(copy=False)
    if len(msg) == 1 and msg[0].bytes == b"end":
        raise SystemExit("bench server: the raw pyzmq sender ended before all its frames arrived")


def weights_path() -> Path:
    """The shipped tiny weights."""
    from backend.models.weights import default_lifter_path

    path = default_lifter_path()
    if not path.is_file():
        raise SystemExit(f"bench server: no lifter weights at {path}; train them (headfuse train --stage encoder)")
    return path


def _start_server(store: Path, workers: int, weights: Path | None) -> ServerProcess:
    return ServerProcess(store, workers, ("--device", "cpu", *(("--weights", str(weights)) if weights else ())),
                         stderr=subprocess.DEVNULL)  # fmt: skip


def _fill_store(store_dir: Path, frames: int) -> tuple[str, int]:
    """A finished job of `frames` production-size frames; returns its id and bytes per frame."""
    from backend.execution.store import JobStore
    from backend.mesh.writers import png_bytes
    from headfuse_wire import protocol as P

    rng = np.random.default_rng(0)
    store = JobStore(store_dir)
    job = store.new_job_id()
    v, f, t = 50_000, 100_000, 512
    texture = png_bytes((rng.random((t, t, 3)) * 40 + np.linspace(0, 200, t)[:, None, None]).astype(np.uint8))
    options = {"mode": "per-frame", "mesh_resolution": 128, "texture_size": t, "no_face": "hold"}
    options.update({"start": 0, "stop": None, "stride": 1})
    record = {"job": job, "state": "done", "name": "bench", "created": time.time(), "options": options}
    record.update({"inputs": {}, "frames_total": frames, "ok": frames, "held": 0, "skipped": 0, "error": None})
    record["frames_done"] = frames
    store.create(record)
    size = 0
    for k in range(frames):
        arrays = {
            "vertices": rng.standard_normal((v, 3)).astype(np.float32),
            "faces": rng.integers(0, v, (f, 3), dtype=np.int32),
            "colors": rng.integers(0, 255, (v, 3), dtype=np.uint8),
            "uv": rng.random((v, 2), dtype=np.float32),
            "normals": rng.standard_normal((v, 3)).astype(np.float32),
        }
        descs = [P.describe(name, a) for name, a in arrays.items()]
        descs.append(P.describe("texture", texture, "png", (t, t, 3)))
        header = {"job": job, "seq": k, "index": k, "status": "ok", "reason": None, "camera": None}
        header.update({"timings_ms": {}, "buffers": descs})
        buffers = [*arrays.values(), texture]
        store.write_frame(job, k, header, buffers)
        size = sum(d["nbytes"] for d in descs)
    return job, size


def _throughput(frames: int, rounds: int) -> dict:
    import zmq

    from headfuse_wire.client import Client

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "jobs"
        job, frame_bytes = _fill_store(store, frames)
        total_mb = frame_bytes * frames * rounds / 1e6
        # raw pyzmq: the same messages from another process, PUSH -> PULL on loopback
        pull = zmq.Context.instance().socket(zmq.PULL)
        port = pull.bind_to_random_port("tcp://127.0.0.1")
        sender = subprocess.Popen(
            [sys.executable, "-c", _RAW_SENDER, str(store), job, str(frames), str(rounds), f"tcp://127.0.0.1:{port}"],
            cwd=ROOT,
        )
        try:
            _raw_receive(pull, sender)  # the clock starts at the first message
            t0 = time.perf_counter()
            count = 1
            while count < frames * rounds:  # every message, whether or not the sender's "end" arrives
                _raw_receive(pull, sender)
                count += 1
            raw_s = time.perf_counter() - t0
            sender.wait(timeout=RAW_TIMEOUT_S)
        finally:
            sender.kill()
            pull.close(linger=0)
        raw_mbps = (count - 1) * frame_bytes / 1e6 / raw_s
        # through the server: FETCH with credits, every buffer decoded into arrays (CRC-32 checked or not)
        server = _start_server(store, 0, None)
        endpoint = server.endpoint
        rates = {}
        try:
            for verify in (True, False):
                with Client(endpoint, timeout=30, verify=verify) as client:
                    client.hello()
                    next(iter(client.frames(job, window=8)))  # connection and page cache warm
                    t0 = time.perf_counter()
                    n = 0
                    for _ in range(rounds):
                        n += sum(1 for frame in client.frames(job, window=8) if frame.vertices is not None)
                    rates[verify] = (n * frame_bytes / 1e6 / (time.perf_counter() - t0), n)
        finally:
            server.stop()
        server_mbps, n = rates[True]
    return {
        "frame_mb": round(frame_bytes / 1e6, 3),
        "frames_streamed": frames * rounds,
        "stream_mb": round(total_mb, 1),
        "raw_pyzmq_mb_s": round(raw_mbps, 1),
        "server_mb_s": round(server_mbps, 1),
        "server_frames_s": round(server_mbps / (frame_bytes / 1e6), 1),
        "server_unverified_mb_s": round(rates[False][0], 1),
        "throughput_ratio": round(server_mbps / raw_mbps, 3),
    }


def _overhead(frames: int, mesh_res: int, texture: int, weights: Path) -> dict:
    from backend.models.weights import load_lifter
    from backend.pipeline import ReconstructConfig, reconstruct_clip
    from backend.synth import SAMPLE_CLIP_DIR
    from headfuse_wire.client import Client

    video, reference = SAMPLE_CLIP_DIR / "video.mp4", SAMPLE_CLIP_DIR / "reference.png"
    options = {"mesh_resolution": mesh_res, "texture_size": texture, "stop": frames}
    cfg = ReconstructConfig(mesh_resolution=mesh_res, texture_size=texture, stop=frames, device="cpu")
    lifter = load_lifter(weights, "cpu")
    list(
        reconstruct_clip(
            video,
            reference,
            ReconstructConfig(mesh_resolution=mesh_res, texture_size=texture, stop=1, device="cpu"),
            lifter=lifter,
        )
    )
    t0 = time.perf_counter()
    n_local = sum(1 for _ in reconstruct_clip(video, reference, cfg, lifter=lifter))
    local_ms = (time.perf_counter() - t0) * 1000.0 / n_local
    del lifter
    with tempfile.TemporaryDirectory() as tmp:
        server = _start_server(Path(tmp) / "jobs", 1, weights)
        endpoint = server.endpoint
        try:
            with Client(endpoint, timeout=60) as client:
                warm = client.submit(video, reference, {**options, "stop": 1})
                list(client.frames(warm))
                t0 = time.perf_counter()
                job = client.submit(video, reference, options)
                n_server = sum(1 for _ in client.frames(job, window=8))
                server_ms = (time.perf_counter() - t0) * 1000.0 / n_server
        finally:
            server.stop()
    return {
        "frames": n_local,
        "mesh_res": mesh_res,
        "texture": texture,
        "in_process_ms_per_frame": round(local_ms, 1),
        "server_ms_per_frame": round(server_ms, 1),
        "overhead_ratio": round(server_ms / local_ms, 3),
    }


def run(args) -> dict:
    """Both measurements; `args.quick` streams and reconstructs fewer frames."""
    quick = bool(getattr(args, "quick", False))
    throughput = _throughput(frames=8, rounds=2 if quick else 8)
    overhead = _overhead(frames=4 if quick else 12, mesh_res=64 if quick else 128, texture=256 if quick else 512,
                         weights=weights_path())  # fmt: skip
    return {
        "throughput_ratio": throughput.pop("throughput_ratio"),
        "overhead_ratio": overhead.pop("overhead_ratio"),
        "throughput": throughput,
        "overhead": overhead,
    }
