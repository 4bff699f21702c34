"""A job's inputs arriving: a SUBMIT admitted as a job record (its limits, its local paths, the uploads it
waits for), and UPLOAD chunks written in order into the store and checked against their SHA-256."""

import hashlib
import time
from pathlib import Path

from backend.server.security import Refused, local_input_path
from headfuse_wire import protocol as P
from headfuse_wire.options import OptionError


class UploadCorrupt(Refused):
    """A complete upload whose SHA-256 is not the one declared: the job fails."""

    def __init__(self, message: str):
        super().__init__("bad_upload", message)


def admit(cfg, store, allowed: list[Path], header: dict, queued: int, uploading: int) -> tuple[dict, list[str]]:
    """The job record of a SUBMIT `header` (created in `store`, with empty files for its uploads) and the
    names of the inputs it waits for. `cfg`: the `ServerConfig`; `allowed`: folders local paths may name;
    `queued` / `uploading`: jobs already queued / waiting for uploads. Raises `Refused` with the protocol's
    code and one line."""
    opts = header["options"]
    try:
        options = cfg.defaults.from_wire({k: v for k, v in opts.items() if k != "name"}).to_wire()
    except OptionError as exc:
        raise Refused("bad_options", str(exc)) from None
    if queued >= cfg.max_queued_jobs:
        raise Refused("busy", f"{cfg.max_queued_jobs} jobs are already queued; try again later")
    inputs, uploads, total = {}, [], 0
    limits = {"video": cfg.max_video_bytes, "reference": cfg.max_reference_bytes}
    for name in P.INPUT_FILES:
        spec = header["inputs"][name]
        if "path" in spec:
            if set(spec) - {"path"}:
                raise Refused("bad_message", f"SUBMIT.inputs.{name}: give either path or filename/size/sha256")
            inputs[name] = {"path": local_input_path(allowed, name, spec["path"]), "local": True}
            continue
        missing = [k for k in ("filename", "size", "sha256") if k not in spec]
        if missing:
            raise Refused("bad_message", f"SUBMIT.inputs.{name}: missing {', '.join(missing)} for an upload")
        if spec["size"] == 0:
            raise Refused("bad_video" if name == "video" else "bad_reference", f"{name}: the file is empty")
        if spec["size"] > limits[name]:
            raise Refused("too_large", f"{name} is {spec['size']} bytes; this server accepts at most {limits[name]}")
        total += spec["size"]
        inputs[name] = {**spec, "received": 0, "local": False}
        uploads.append(name)
    if total > cfg.max_job_upload_bytes:
        raise Refused("too_large", f"uploads total {total} bytes; the per-job limit is {cfg.max_job_upload_bytes}")
    if uploads and uploading >= cfg.max_uploading_jobs:
        raise Refused("busy", f"{uploading} jobs are already waiting for their uploads; finish those or try later")
    job_id = store.new_job_id()
    for name in uploads:
        inputs[name]["path"] = store.input_name(name, inputs[name]["filename"])
    record = {
        "job": job_id,
        "state": "uploading" if uploads else "queued",
        "name": opts.get("name", ""),
        "created": time.time(),
        "options": options,
        "inputs": inputs,
        "frames_total": None,
        "ok": 0,
        "held": 0,
        "skipped": 0,
        "error": None,
        "attempts": 0,
    }
    store.create(record)
    for name in uploads:
        store.input_file(job_id, inputs[name]).touch()
    return record, uploads


def receive_chunk(store, record: dict, name: str, offset: int, chunk) -> bool:
    """Write one UPLOAD chunk of input `name` of a job `record` of `store` (in the state `uploading`) at `offset`, which
    must be where the file ends; returns True when the file is complete and its SHA-256 is the one
    declared. Raises `Refused` (`bad_state`, `bad_upload`, `too_large`), `UploadCorrupt` for a wrong SHA-256."""
    if record["state"] != "uploading":
        raise Refused("bad_state", f"job {record['job']} is {record['state']}, not uploading")
    spec = record["inputs"][name]
    if spec.get("local"):
        raise Refused("bad_state", f"job {record['job']}: {name} was given as a local path, not an upload")
    n = memoryview(chunk).nbytes
    if offset != spec["received"]:
        raise Refused("bad_upload", f"{name}: chunk at offset {offset}, expected offset {spec['received']}")
    if spec["received"] + n > spec["size"]:
        raise Refused("too_large", f"{name}: more than the {spec['size']} bytes declared in SUBMIT")
    path = store.input_file(record["job"], spec)
    if spec["received"] < spec["size"]:
        with open(path, "r+b") as f:
            f.seek(spec["received"])
            f.write(chunk)
        spec["received"] += n
    if spec["received"] < spec["size"]:
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != spec["sha256"]:
        raise UploadCorrupt(f"{name}: SHA-256 of the upload differs from the one given in SUBMIT")
    return True


def all_received(record: dict) -> bool:
    """Every input of the job is a local path or fully uploaded."""
    return all(s.get("local") or s["received"] == s["size"] for s in record["inputs"].values())
