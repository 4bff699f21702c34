"""The server's jobs: each job's persistent record with what the server knows of it while it runs, and the
jobs of a store as a restarted server finds them."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from backend.run.task import WorkTask
from headfuse_wire import protocol as P

_PUBLIC_KEYS = ("job", "state", "name", "created", "frames_done", "frames_total", "ok", "held", "skipped")


@dataclass
class Job:
    """A job as the server holds it: its persistent record plus what it knows while running."""

    record: dict
    """What `job.json` holds."""
    frames_done: int = 0
    """Frames 0 .. frames_done - 1 are in the store."""
    last_index: int | None = None
    """Source index of the last stored frame."""
    reasons: list = field(default_factory=list)
    """Why frames were skipped, the first 200 (for the no-face error)."""
    task: WorkTask | None = None
    """Its task in the pool (None: none queued or running)."""
    last_progress: float = 0.0
    """When subscribers last got a PROGRESS (monotonic seconds)."""
    touched: float = field(default_factory=time.monotonic)
    """When its upload last moved (monotonic seconds; abandoned uploads expire)."""

    @property
    def id(self) -> str:
        """The job id."""
        return self.record["job"]

    @property
    def state(self) -> str:
        """The job state."""
        return self.record["state"]

    def input_name(self, name: str) -> str:
        """The name the user knows input `name` by: the uploaded file's own name, or the local path's."""
        spec = self.record["inputs"][name]
        return spec.get("filename") or Path(spec["path"]).name

    def public(self) -> dict:
        """The record as the protocol's JOB_RECORD."""
        rec = {k: self.record[k] for k in _PUBLIC_KEYS if k in self.record}
        rec["frames_done"] = self.frames_done
        rec["options"] = dict(self.record["options"])
        rec["error"] = self.record.get("error")
        return rec


def load_jobs(store) -> list[Job]:
    """Every job of a `JobStore`: a finished one as recorded, an unfinished one with what its stored
    frames say (the damaged tail dropped), to resume at its first frame not stored."""
    jobs = []
    for record in store.load_records():
        if not isinstance(record.get("job"), str) or not store.job_dir(record["job"]).is_dir():
            continue
        job = Job(record)
        if record["state"] in P.FINAL_STATES:
            job.frames_done = int(record.get("frames_done", 0))
        else:
            headers = store.scan_frames(job.id)
            job.frames_done = len(headers)
            for k in ("ok", "held", "skipped"):
                record[k] = sum(1 for h in headers if h["status"] == k)
            if headers:
                job.last_index = headers[-1]["index"]
                job.reasons = [h["reason"] for h in headers if h["status"] == "skipped"][:200]
        jobs.append(job)
    return jobs
