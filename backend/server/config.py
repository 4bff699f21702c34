"""The inference server's configuration (one dataclass, a docstring on each field)."""

from dataclasses import dataclass, field
from pathlib import Path

from headfuse_wire.options import ReconstructConfig


@dataclass
class ServerConfig:
    """`headfuse serve`: where it listens, who runs the work, where results live, what it accepts."""

    bind: str = "tcp://127.0.0.1:5555"
    """ZeroMQ endpoint of the ROUTER socket; loopback by default (`tcp://127.0.0.1:*` picks a free port)."""
    workers: int = 1
    """Local worker processes (spawned); each loads the model once. 0 queues jobs and serves stored
    results without running anything."""
    ray: str | None = None
    """Run the work on a Ray cluster instead of local processes: the head's address (`host:port`), `auto`, or
    `local` (a private single-machine cluster). `workers` is then the number of actors (one GPU each where the
    cluster has GPUs); the store and the input files must be at the same path on every node."""
    store: Path = Path("jobs")
    """The job store: one folder per job with its inputs, its record and every finished frame."""
    defaults: ReconstructConfig = field(default_factory=ReconstructConfig)
    """Options of jobs that do not give them, and how the workers run (`weights`, `fusion_weights`, `device`:
    with several GPUs worker i uses GPU i modulo their count)."""
    curve_keys: Path | None = None
    """Folder from `headfuse keys` (`server.key_secret` and `authorized_clients/`): turns on CurveZMQ
    encryption and refuses clients whose public key is not in `authorized_clients/`."""
    allow_local_paths: list[Path] = field(default_factory=list)
    """Folders the local-path shortcut may read inputs from (empty: the shortcut is off, inputs are uploaded)."""
    max_message_bytes: int = 4 * 1024 * 1024
    """ZMQ_MAXMSGSIZE of the server socket: a peer that sends a larger message part is disconnected."""
    chunk_size: int = 1024 * 1024
    """Upload chunk size announced to clients."""
    max_video_bytes: int = 2 * 1024**3
    """Largest video upload."""
    max_reference_bytes: int = 64 * 1024**2
    """Largest reference image upload."""
    max_job_upload_bytes: int = 2 * 1024**3 + 64 * 1024**2
    """Largest total upload of one job."""
    max_frames: int = 100_000
    """Most frames one job may produce."""
    max_video_pixels: int = 4096 * 4096
    """Largest video frame (width x height) a job accepts."""
    max_queued_jobs: int = 1000
    """Jobs waiting for a worker before SUBMIT is answered `busy`."""
    max_uploading_jobs: int = 32
    """Jobs waiting for their uploads before SUBMIT is answered `busy`."""
    upload_timeout_s: float = 600.0
    """An upload not continued for this long is abandoned: its job and its folder are deleted."""
    max_client_inflight_bytes: int = 128 * 1024**2
    """Frame bytes sent to one client and not yet credited back, before the server waits for its CREDIT."""
    max_inflight_bytes: int = 1024**3
    """The same over all clients together."""
    worker_start_timeout_s: float = 300.0
    """How long `start` waits for the workers to load their networks; with none loaded, the server
    does not start and says why."""
    heartbeat_s: float = 1.0
    """Interval of the server's heartbeats to clients that are fetching frames."""
    peer_timeout_s: float = 300.0
    """A fetching client silent this long is forgotten (it can FETCH again to resume)."""
    cancel_grace_s: float = 5.0
    """A worker that has not stopped this long after a cancel is killed and replaced."""
    max_attempts: int = 3
    """A job whose worker dies this many times fails with `worker_lost`."""
