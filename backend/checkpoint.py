"""Checkpoints that carry their config, format version, commit and command, and resume exactly.

Loaded with `torch.load(weights_only=True)`: only tensors and plain containers, never arbitrary
pickled objects.
"""

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import torch

from backend.files import atomic_path

FORMAT_VERSION = 1


def git_commit(repo: Path | None = None) -> str:
    """The commit of the working tree (with `-dirty` when it has changes), or `unknown`."""
    repo = repo or Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if sha.returncode:
            return "unknown"
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def command_line() -> str:
    """The command that is running, as typed (`headfuse ...` for the console script)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("headfuse", "__main__.py")):
        argv[0] = "headfuse"
    return " ".join(argv)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (which weights a checkpoint or a cache was made with)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write `state` (tensors, numbers, strings, lists, dicts) with format metadata, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(state)
    payload.setdefault("format_version", FORMAT_VERSION)
    payload.setdefault("commit", git_commit())
    payload.setdefault("command", command_line())
    payload.setdefault("saved_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint`; a clear error for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch's own text advises weights_only=False, which we never do: not shown
        raise ValueError(
            f"{path} is not a headfuse checkpoint (expected a file written by `headfuse train`; "
            f"torch.load with weights_only: {type(exc).__name__})"
        ) from exc
    version = state.get("format_version") if isinstance(state, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {version!r}, this headfuse reads format {FORMAT_VERSION}")
    return state
