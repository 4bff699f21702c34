"""Writing a file so that no reader ever sees half of it: the one helper every writer uses (meshes,
manifests, the job store, checkpoints, caches). The data goes to a hidden temporary name in the same
folder and is renamed over the target; with `durable`, it is fsynced first and the folder after."""

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """The hidden name `path` is written under before the rename (`.NAME.PID.part`, keeping the suffix)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.part{path.suffix}")


@contextmanager
def atomic_path(path: str | Path, durable: bool = False) -> Iterator[Path]:
    """A temporary path to write `path`'s content to (for writers that take a path, e.g. `np.savez`,
    `torch.save`); renamed over `path` when the block ends without error, removed otherwise."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_dir(path.parent)


def atomic_write(path: str | Path, data: bytes | Iterable[bytes], durable: bool = False) -> Path:
    """Write `data` (bytes, or an iterable of bytes-like chunks) to `path` atomically; returns `path`."""
    path = Path(path)
    with atomic_path(path, durable) as tmp, open(tmp, "wb") as f:
        for chunk in [data] if isinstance(data, bytes | bytearray | memoryview) else data:
            f.write(chunk)
    return path


def writable_folder(path: str | Path) -> Path:
    """Make the folder `path` if needed and check that a file can be written in it; raises `OSError`
    (it is a file, read-only, full, or cannot be made)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write(path / ".write-check", b"\0" * 4096).unlink()
    return path
