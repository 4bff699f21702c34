"""The job store on disk: one folder per job, written so that a crash at any instant loses nothing
that was announced.

```
STORE/.lock                    held (flock) by the server using the store
STORE/<job>/job.json           the job record (state, options, inputs, counts, error)
STORE/<job>/inputs/video.*     uploaded inputs (absent when the local-path shortcut is used)
STORE/<job>/frames/000000.frame  one file per finished frame, numbered by its place in the job
```

A frame file is `MAGIC`, a little-endian uint32 header length, the FRAME header as JSON (with a
CRC-32 per buffer and a SHA-256 `digest` of all buffers) and the buffers back to back. Every file
is written to a temporary name, fsynced and renamed into place, so a frame file either is
complete or does not exist; `scan_frames` also checks sizes and checksums and drops anything
after the first bad frame, so a job always resumes from the first unfinished frame.
"""

import fcntl
import hashlib
import json
import os
import struct
import uuid
import zlib
from pathlib import Path

from backend.files import atomic_write, writable_folder

MAGIC = b"HFFRAME1"
_LEN = struct.Struct("<I")


class StoreLockedError(RuntimeError):
    """Another server process is using this job store."""


class StoreError(OSError):
    """The store's disk refused a read or write (full, read-only, gone): one line naming the path."""


def storage_message(exc: OSError, what: str) -> str:
    """One line for a failed file operation: `what` (e.g. "job store /s"), the path and the system's reason."""
    where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
    return f"{what}: cannot write{where}: {exc.strerror or exc}"


class JobStore:
    """Job folders under `root` (see the module docstring). Safe to use from the server and its workers:
    the server writes records, a worker writes the frames of the job it runs."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()  # resolved once: a record never depends on the working directory
        self._lock_fd: int | None = None

    def open(self) -> None:
        """Make the store's folder if needed and check that a file can be written in it and fsynced;
        `StoreError` (one line: the path and why) when it is a file, read-only, full or gone."""
        try:
            writable_folder(self.root)
        except OSError as exc:
            raise StoreError(storage_message(exc, f"job store {self.root}")) from None

    def lock(self) -> None:
        """Take the store for this process (released when the process ends, even by SIGKILL)."""
        self.open()
        try:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(storage_message(exc, f"job store {self.root}")) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLockedError(f"job store {self.root} is in use by another headfuse server") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        """Give the store back."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @staticmethod
    def new_job_id() -> str:
        """A fresh job id: 16 lowercase hex digits."""
        return uuid.uuid4().hex[:16]

    def job_dir(self, job: str) -> Path:
        """The folder of a job."""
        return self.root / job

    def create(self, record: dict) -> None:
        """Make a new job's folders and write its record."""
        d = self.job_dir(record["job"])
        (d / "inputs").mkdir(parents=True, exist_ok=True)
        (d / "frames").mkdir(exist_ok=True)
        self.save_record(record)

    def save_record(self, record: dict) -> None:
        """Write a job record atomically."""
        atomic_write(self.job_dir(record["job"]) / "job.json", json.dumps(record, indent=1).encode(), durable=True)

    def load_records(self) -> list[dict]:
        """Every readable job record, oldest first (unreadable folders are skipped)."""
        records = []
        for path in self.root.glob("*/job.json"):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(records, key=lambda r: r.get("created", 0))

    @staticmethod
    def input_name(name: str, filename: str | None) -> str:
        """Where an uploaded input is kept, relative to its job's folder (as the record holds it: the store
        may move or be reached from another working directory); the client's extension is kept for the decoders."""
        suffix = Path(filename or "").suffix.lower()
        if not suffix[1:].isalnum() or len(suffix) > 10:
            suffix = ""
        return f"inputs/{name}{suffix}"

    def input_file(self, job: str, spec: dict) -> Path:
        """The file of a record's input `spec` (`{"path": ...}`): relative paths are inside the job's folder,
        absolute ones are the local-path shortcut's."""
        path = Path(spec["path"])
        return path if path.is_absolute() else self.job_dir(job) / path

    def frame_path(self, job: str, seq: int) -> Path:
        """The file of frame `seq` of a job."""
        return self.job_dir(job) / "frames" / f"{seq:06d}.frame"

    def write_frame(self, job: str, seq: int, header: dict, buffers: list) -> dict:
        """Store a finished frame atomically; returns the header with its `digest` (SHA-256 of the buffers).

        Idempotent for retried work: when a complete, checksum-valid frame of the same source index is
        already stored at `seq` (a chunk re-run after its worker died), that one is kept and its header
        returned, so a frame already announced never changes."""
        path = self.frame_path(job, seq)
        if path.exists():
            try:
                stored, _ = parse_frame(path.read_bytes(), verify=True)
            except (OSError, ValueError):
                stored = None
            if stored is not None and stored.get("index") == header.get("index"):
                return stored
        digest = hashlib.sha256()
        for buf in buffers:
            digest.update(buf)
        header = {**header, "digest": digest.hexdigest()}
        data = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
        atomic_write(path, [MAGIC, _LEN.pack(len(data)), data, *buffers], durable=True)
        return header

    def read_frame(self, job: str, seq: int, verify: bool = False) -> tuple[dict, list[memoryview]]:
        """A stored frame's header and buffers; ValueError when the file is damaged."""
        data = self.frame_path(job, seq).read_bytes()
        return parse_frame(data, verify)

    def scan_frames(self, job: str) -> list[dict]:
        """Headers of the job's complete frames 0, 1, ... up to the first missing or damaged one, which is
        deleted with everything after it (and stale temporary files), so the job resumes there."""
        frames_dir = self.job_dir(job) / "frames"
        if not frames_dir.is_dir():
            return []
        for tmp in frames_dir.glob(".*.part*"):  # `backend.files` temporary names
            tmp.unlink(missing_ok=True)
        headers: list[dict] = []
        while True:
            path = self.frame_path(job, len(headers))
            try:
                header, _ = parse_frame(path.read_bytes(), verify=True)
            except (OSError, ValueError):
                break
            headers.append(header)
        for path in frames_dir.glob("*.frame"):
            stem = path.stem
            if not stem.isdigit() or int(stem) >= len(headers):
                path.unlink(missing_ok=True)
        return headers


def parse_frame(data: bytes, verify: bool) -> tuple[dict, list[memoryview]]:
    """Split a frame file into its header and buffers; `verify` checks CRC-32s and the digest."""
    view = memoryview(data)
    if view[: len(MAGIC)] != MAGIC or len(view) < len(MAGIC) + _LEN.size:
        raise ValueError("not a headfuse frame file")
    (n,) = _LEN.unpack_from(view, len(MAGIC))
    pos = len(MAGIC) + _LEN.size
    header = json.loads(bytes(view[pos : pos + n]))
    pos += n
    buffers = []
    digest = hashlib.sha256()
    for desc in header["buffers"]:
        buf = view[pos : pos + desc["nbytes"]]
        if buf.nbytes != desc["nbytes"]:
            raise ValueError("frame file is truncated")
        if verify:
            if zlib.crc32(buf) & 0xFFFFFFFF != desc["crc32"]:
                raise ValueError(f"frame file: buffer {desc['name']} fails its CRC-32")
            digest.update(buf)
        buffers.append(buf)
        pos += desc["nbytes"]
    if pos != len(view):
        raise ValueError("frame file has trailing bytes")
    if verify and digest.hexdigest() != header["digest"]:
        raise ValueError("frame file fails its SHA-256 digest")
    return header, buffers
