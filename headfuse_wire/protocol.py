"""The headfuse wire protocol: one definition of every message, shared by the server and the add-on.

Pure Python plus numpy (no bpy, no backend import). Every message is a ZeroMQ multipart message:
frame 0 is a UTF-8 JSON header (an object with `type` and `v`, the protocol version), the other
frames are raw buffers that the header describes (`buffers`: name, dtype, shape, byte length and
CRC-32 of each). Nothing from the wire is ever unpickled or evaluated: `decode` parses JSON with
NaN/Infinity refused, checks every header against the schema of its type (required keys, no
unknown keys, types, ranges, string and list lengths) and every buffer against its descriptor.

Client -> server: HELLO, SUBMIT, UPLOAD, FETCH, CREDIT, CANCEL, STATUS, LIST, HEARTBEAT.
Server -> client: HELLO, ACCEPTED, UPLOADED, JOB, JOBS, PROGRESS, FRAME, DONE, ERROR, HEARTBEAT.
A request may carry `req` (an integer the client picks); the reply echoes it.
"""

import json
import math
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import options

PROTOCOL_VERSION = 2
"""Bumped on any incompatible change; HELLO with another version is answered by ERROR `version_mismatch`.
2: a tracked job's frames name the frame whose faces and UVs they share (`topology`) and leave them out."""

CAPABILITIES = ("upload", "local-path", "credits", "fetch", "cancel", "heartbeat", "per-frame", "fused")
"""What this protocol version offers; the server lists what it actually enables in its HELLO."""

MAX_HEADER_BYTES = 64 * 1024
"""Largest JSON header accepted."""
MAX_BUFFERS = 16
"""Most raw buffers after the header."""
MAX_CHUNK_BYTES = 8 * 1024 * 1024
"""Largest UPLOAD chunk a client may send (the server announces its own, possibly smaller, chunk size)."""
MAX_CREDIT = 1024
"""Most frames a client may have outstanding on one job."""
MAX_ELEMENTS = 1 << 28
"""Most elements in one FRAME buffer."""
MAX_FILE_BYTES = 1 << 40
"""Largest upload size a header may declare (the server's own limit is far lower)."""

ERROR_CODES = (
    "bad_message",  # the message breaks the schema (the text says where)
    "version_mismatch",  # client and server speak different protocol versions
    "unknown_job",  # no job with that id
    "bad_state",  # the job cannot do that now (e.g. upload to a running job)
    "too_large",  # over a size limit (message, upload, video)
    "bad_upload",  # wrong offset, checksum or size in an upload
    "path_not_allowed",  # local-path shortcut off, or the path is outside the allowed folders
    "bad_video",  # the video is missing, corrupt or not a video
    "bad_reference",  # the reference is missing or not an image
    "no_face",  # no face in the reference, or in none of the frames
    "bad_options",  # job options the pipeline refuses
    "not_subscribed",  # CREDIT for a job this connection is not fetching
    "busy",  # the server's queue is full
    "worker_lost",  # the worker died repeatedly on this job
    "no_worker",  # no worker of the server could start (the text gives the reason)
    "storage",  # the job store's disk refused a write (full, read-only, gone; the text names the path)
    "not_authorized",  # the client's CURVE key was taken off the server's allow-list
    "upload_expired",  # an upload not continued for too long: the job was dropped
    "internal",  # an unexpected server fault (the server goes on)
)

JOB_STATES = ("uploading", "queued", "running", "done", "failed", "cancelled")
"""Life of a job; the last three are final."""
FINAL_STATES = ("done", "failed", "cancelled")

FRAME_BUFFERS = {
    "vertices": ("float32", 2, 3),
    "faces": ("int32", 2, 3),
    "colors": ("uint8", 2, 3),
    "uv": ("float32", 2, 2),
    "normals": ("float32", 2, 3),
    "texture": ("png", 3, 3),
    "matte": ("png", 3, 1),
    "planes": ("float16", 4, None),
    "w1": ("float16", 2, None),
    "b1": ("float16", 1, None),
    "w2": ("float16", 2, None),
    "b2": ("float16", 1, None),
}
"""Buffers a FRAME may carry: name -> (dtype, rank, size of the last axis or None). `texture` is PNG
bytes whose descriptor shape is the decoded image's [H, W, 3]; with the job option `mattes`, `matte` is
the frame's person matte as a grey PNG, shape [H, W, 1]. With the job option `triplanes`, a
frame also carries its field for the live preview: `planes` [3, C, H, W] and the decoder MLP
`w1` [hidden, C], `b1` [hidden], `w2` [1 + F, hidden], `b2` [1 + F], all float16.

A tracked job's frames (one mesh whose vertices move) name in `topology` the seq of the frame whose `faces`
and `uv` they share. Only that frame is stored with them; the server adds them to the first frame of each
fetch that needs them, so a stream carries them once and then only what changes (vertices, normals,
colours, texture, pose)."""

TOPOLOGY_BUFFERS = ("faces", "uv")
"""The buffers a tracked job's frames share (see `topology` above)."""

INPUT_FILES = ("video", "reference")
"""The files a job needs."""

_DTYPE_SIZES = {"float32": 4, "float16": 2, "int32": 4, "uint8": 1, "png": 1, "bytes": 1}


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
"""Host names of this machine in a tcp endpoint (with every 127.x address)."""


def is_loopback(endpoint: str) -> bool:
    """Whether a ZeroMQ endpoint stays on this machine: ipc, inproc, or tcp on a loopback address
    (`tcp://*:5555` and `tcp://0.0.0.0:5555` do not)."""
    if not endpoint.startswith("tcp://"):
        return True
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0]
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class ProtocolError(ValueError):
    """A message that breaks the protocol; `code` is one of `ERROR_CODES`."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Field:
    """The schema of one header value."""

    kind: str
    """`int`, `num`, `str`, `bool`, `dict` (fixed keys), `map` (str -> item), `list`, `matrix` (numbers nested <= 2)."""
    required: bool = True
    """The key must be present."""
    nullable: bool = False
    """`null` is allowed."""
    lo: float | None = None
    """Smallest number allowed (int/num)."""
    hi: float | None = None
    """Largest number allowed (int/num)."""
    max_len: int = 256
    """Longest string, list or map."""
    choices: tuple = ()
    """Allowed values (str)."""
    pattern: str | None = None
    """Regular expression a string must match in full."""
    fields: dict | None = None
    """Keys of a `dict`."""
    item: "Field | None" = None
    """Schema of list / map items."""


def _int(lo=0, hi=2**53, **kw) -> Field:
    return Field("int", lo=lo, hi=hi, **kw)


def _str(max_len=256, **kw) -> Field:
    return Field("str", max_len=max_len, **kw)


JOB_ID = _str(pattern=r"[0-9a-f]{16}")
_REQ = _int(required=False)
_SHA256 = _str(pattern=r"[0-9a-f]{64}")

def _option_schema(f) -> Field:
    """The header schema of one `ReconstructConfig` field (its step and cross-field rules are `validate`'s)."""
    m, nullable = f.metadata, f.default is None
    if m["choices"]:
        return _str(required=False, choices=m["choices"])
    if isinstance(f.default, bool):
        return Field("bool", required=False)
    return _int(m["lo"], m["hi"], required=False, nullable=nullable)


OPTIONS = Field(
    "dict",
    fields={
        **{f.name: _option_schema(f) for f in options.option_fields(("job", "wire"))},
        "name": _str(200, required=False),
    },
)
"""Job options: the client-side fields of `options.ReconstructConfig` (all optional; the server fills in its
defaults and validates the rest), plus the job's display `name`."""

_INPUT = Field(
    "dict",
    fields={
        "filename": _str(200, required=False, pattern=r"[^/\\\x00]+"),
        "size": _int(0, MAX_FILE_BYTES, required=False),
        "sha256": Field("str", required=False, pattern=r"[0-9a-f]{64}"),
        "path": _str(4096, required=False, pattern=r"[^\x00]+"),
    },
)
"""One input: an upload (`filename`, `size`, `sha256`) or a server-side `path` (local-path shortcut)."""

_ERROR_INFO = Field(
    "dict",
    nullable=True,
    fields={
        "code": _str(choices=ERROR_CODES),
        "message": _str(4000),
        "index": _int(required=False, nullable=True),
    },
)

JOB_RECORD = Field(
    "dict",
    fields={
        "job": JOB_ID,
        "state": _str(choices=JOB_STATES),
        "name": _str(200, required=False),
        "created": Field("num", lo=0, hi=1e11),
        "frames_done": _int(),
        "frames_total": _int(nullable=True),
        "ok": _int(),
        "held": _int(),
        "skipped": _int(),
        "options": Field("map", max_len=16, item=Field("json", nullable=True)),
        "error": _ERROR_INFO,
    },
)
"""What STATUS, CANCEL and LIST answer about a job."""

_BUFFER = Field(
    "dict",
    fields={
        "name": _str(32, pattern=r"[a-z][a-z0-9_]*"),
        "dtype": _str(choices=tuple(_DTYPE_SIZES)),
        "shape": Field("list", max_len=4, item=_int(0, MAX_ELEMENTS)),
        "nbytes": _int(0, 1 << 32),
        "crc32": _int(0, 2**32 - 1),
    },
)

WORKERS = Field(
    "dict",
    required=False,
    fields={
        "wanted": _int(0, 1 << 16),
        "ready": _int(0, 1 << 16),
        "errors": Field("list", max_len=8, item=_str(4000)),
    },
)
"""The server's workers, in HELLO and JOB: how many it was started with, how many have loaded their networks,
and why those that could not start did not."""

SCHEMAS: dict[str, dict[str, Field]] = {
    "HELLO": {
        "req": _REQ,
        "version": _int(0, 1 << 16),
        "capabilities": Field("list", max_len=32, item=_str(32)),
        "agent": _str(200, required=False),
        "limits": Field("map", required=False, max_len=32, item=Field("num", lo=0, hi=2**62)),
        "workers": WORKERS,
    },
    "SUBMIT": {
        "req": _REQ,
        "options": OPTIONS,
        "inputs": Field("dict", fields={"video": _INPUT, "reference": _INPUT}),
    },
    "ACCEPTED": {
        "req": _REQ,
        "job": JOB_ID,
        "uploads": Field("list", max_len=2, item=_str(choices=INPUT_FILES)),
        "chunk_size": _int(1, MAX_CHUNK_BYTES),
    },
    "UPLOAD": {
        "req": _REQ,
        "job": JOB_ID,
        "file": _str(choices=INPUT_FILES),
        "offset": _int(0, MAX_FILE_BYTES),
        "buffers": Field("list", max_len=1, item=_BUFFER),
    },
    "UPLOADED": {
        "req": _REQ,
        "job": JOB_ID,
        "file": _str(choices=INPUT_FILES),
        "received": _int(0, MAX_FILE_BYTES),
        "complete": Field("bool"),
    },
    "FETCH": {"req": _REQ, "job": JOB_ID, "from_seq": _int(), "credit": _int(0, MAX_CREDIT)},
    "CREDIT": {"job": JOB_ID, "credit": _int(1, MAX_CREDIT)},
    "CANCEL": {"req": _REQ, "job": JOB_ID},
    "STATUS": {"req": _REQ, "job": JOB_ID},
    "LIST": {
        "req": _REQ,
        "limit": _int(1, 10_000, required=False),
        "after": Field("str", required=False, pattern=r"[0-9a-f]{16}"),
    },
    "JOB": {"req": _REQ, "record": JOB_RECORD, "workers": WORKERS},
    "JOBS": {
        "req": _REQ,
        "records": Field("list", max_len=10_000, item=JOB_RECORD),
        "next": Field("str", required=False, nullable=True, pattern=r"[0-9a-f]{16}"),
    },
    "PROGRESS": {
        "job": JOB_ID,
        "state": _str(choices=JOB_STATES),
        "frames_done": _int(),
        "frames_total": _int(nullable=True),
    },
    "FRAME": {
        "job": JOB_ID,
        "seq": _int(),
        "index": _int(),
        "status": _str(choices=("ok", "held", "skipped")),
        "reason": _str(2000, nullable=True),
        "cut": Field("bool", required=False),
        "camera": Field("map", nullable=True, max_len=32, item=Field("matrix")),
        "timings_ms": Field("map", max_len=32, item=Field("num", lo=0, hi=1e9)),
        "metres_per_box_unit": Field("num", lo=1e-6, hi=1e6, required=False),
        "topology": Field("int", required=False, lo=0, hi=1 << 40),
        "digest": _SHA256,
        "buffers": Field("list", max_len=len(FRAME_BUFFERS), item=_BUFFER),
    },
    "DONE": {
        "job": JOB_ID,
        "state": _str(choices=FINAL_STATES),
        "frames": _int(),
        "ok": _int(),
        "held": _int(),
        "skipped": _int(),
    },
    "ERROR": {
        "req": _REQ,
        "code": _str(choices=ERROR_CODES),
        "message": _str(4000),
        "job": Field("str", required=False, nullable=True, pattern=r"[0-9a-f]{16}"),
        "index": _int(required=False, nullable=True),
    },
    "HEARTBEAT": {"req": _REQ},
}
"""Every message type -> the schema of its header (besides `type` and `v`, which every header has)."""

CLIENT_TYPES = ("HELLO", "SUBMIT", "UPLOAD", "FETCH", "CREDIT", "CANCEL", "STATUS", "LIST", "HEARTBEAT")
"""What a client may send."""
SERVER_TYPES = ("HELLO", "ACCEPTED", "UPLOADED", "JOB", "JOBS", "PROGRESS", "FRAME", "DONE", "ERROR", "HEARTBEAT")
"""What a server may send."""
_WITH_BUFFERS = {"UPLOAD": 1, "FRAME": len(FRAME_BUFFERS)}

_PATTERNS: dict[str, re.Pattern] = {}


def _fail(path: str, expected: str, value) -> None:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise ProtocolError("bad_message", f"{path}: expected {expected}, got {shown}")


def _check(value, spec: Field, path: str, depth: int = 0) -> None:
    if value is None:
        if not spec.nullable:
            _fail(path, f"a {spec.kind} (not null)", value)
        return
    kind = spec.kind
    if kind == "int" or kind == "num":
        ok_type = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
        if not ok_type or isinstance(value, bool):
            _fail(path, "an integer" if kind == "int" else "a number", value)
        if isinstance(value, float) and not math.isfinite(value):
            _fail(path, "a finite number", value)
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            _fail(path, f"a number in [{spec.lo}, {spec.hi}]", value)
    elif kind == "str":
        if not isinstance(value, str):
            _fail(path, "a string", value)
        if len(value) > spec.max_len:
            _fail(path, f"a string of at most {spec.max_len} characters", f"{len(value)} characters")
        if spec.choices and value not in spec.choices:
            _fail(path, f"one of {', '.join(spec.choices)}", value)
        if spec.pattern is not None:
            pat = _PATTERNS.get(spec.pattern) or _PATTERNS.setdefault(spec.pattern, re.compile(spec.pattern))
            if not pat.fullmatch(value):
                _fail(path, f"a string matching {spec.pattern}", value)
    elif kind == "bool":
        if not isinstance(value, bool):
            _fail(path, "true or false", value)
    elif kind == "list":
        if not isinstance(value, list):
            _fail(path, "a list", value)
        if len(value) > spec.max_len:
            _fail(path, f"a list of at most {spec.max_len} items", f"{len(value)} items")
        for i, item in enumerate(value):
            _check(item, spec.item, f"{path}[{i}]", depth + 1)
    elif kind == "dict":
        _check_fields(value, spec.fields, path)
    elif kind == "map":
        if not isinstance(value, dict):
            _fail(path, "an object", value)
        if len(value) > spec.max_len:
            _fail(path, f"an object of at most {spec.max_len} keys", f"{len(value)} keys")
        for k, item in value.items():
            if len(k) > 64:
                _fail(path, "keys of at most 64 characters", k)
            _check(item, spec.item, f"{path}.{k}", depth + 1)
    elif kind == "matrix":
        if isinstance(value, list):
            if depth > 2 or len(value) > 16:
                _fail(path, "a number or a list (at most 16 long, nested at most twice) of numbers", value)
            for i, item in enumerate(value):
                _check(item, spec, f"{path}[{i}]", depth + 1)
        else:
            _check(value, Field("num"), path)
    elif kind == "json":
        if not isinstance(value, str | int | float | bool):
            _fail(path, "a string, number or boolean", value)
        if isinstance(value, str) and len(value) > 256:
            _fail(path, "a string of at most 256 characters", f"{len(value)} characters")
        if isinstance(value, float) and not math.isfinite(value):
            _fail(path, "a finite number", value)
    else:  # pragma: no cover - a schema bug, not a wire error
        raise AssertionError(f"unknown field kind {kind}")


def _check_fields(obj, fields: dict[str, Field], path: str) -> None:
    if not isinstance(obj, dict):
        _fail(path, "an object", obj)
    unknown = [k for k in obj if k not in fields]
    if unknown:
        _fail(path, f"only the keys {', '.join(sorted(fields))}", f"unknown key {unknown[0]!r}")
    for name, spec in fields.items():
        if name not in obj:
            if spec.required:
                raise ProtocolError("bad_message", f"{path}: missing required key {name!r}")
            continue
        _check(obj[name], spec, f"{path}.{name}")


def validate_header(header: dict) -> None:
    """Check a header against its schema; raise `ProtocolError` naming the first problem."""
    if not isinstance(header, dict):
        _fail("header", "a JSON object", header)
    mtype = header.get("type")
    if not isinstance(mtype, str) or mtype not in SCHEMAS:
        _fail("header.type", f"one of {', '.join(SCHEMAS)}", mtype)
    version = header.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        _fail(f"{mtype}.v", "the protocol version (an integer)", version)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            "version_mismatch",
            f"protocol version mismatch: the message speaks version {version}, "
            f"this side speaks version {PROTOCOL_VERSION}",
        )
    body = {k: v for k, v in header.items() if k not in ("type", "v")}
    _check_fields(body, SCHEMAS[mtype], mtype)


# ----------------------------------------------------------------------------- buffers


def describe(name: str, data, dtype: str | None = None, shape: tuple | None = None) -> dict:
    """The header descriptor of one buffer: a numpy array (dtype and shape from it) or bytes
    (give `dtype` `png`/`bytes` and the `shape` it stands for)."""
    if isinstance(data, np.ndarray):
        if not data.flags.c_contiguous:
            raise ValueError(f"buffer {name}: expected a C-contiguous array")
        dtype, shape, view = str(data.dtype), data.shape, memoryview(data).cast("B")
    else:
        view = memoryview(data).cast("B")
        if dtype is None:
            raise ValueError(f"buffer {name}: give the dtype of raw bytes (png or bytes)")
        shape = shape if shape is not None else (view.nbytes,)
    return {
        "name": name,
        "dtype": dtype,
        "shape": [int(s) for s in shape],
        "nbytes": view.nbytes,
        "crc32": zlib.crc32(view) & 0xFFFFFFFF,
    }


def _check_buffer(desc: dict, buf, verify: bool, mtype: str) -> None:
    name, dtype, shape = desc["name"], desc["dtype"], desc["shape"]
    where = f"{mtype}.buffers.{name}"
    if mtype == "FRAME":
        if name not in FRAME_BUFFERS:
            _fail(where, f"a buffer named one of {', '.join(FRAME_BUFFERS)}", name)
        want_dtype, rank, last = FRAME_BUFFERS[name]
        if dtype != want_dtype:
            _fail(where, f"dtype {want_dtype}", dtype)
        if len(shape) != rank or (last is not None and shape[-1] != last):
            _fail(where, f"a shape of rank {rank}" + (f" ending in {last}" if last else ""), shape)
    elif name != "chunk" or dtype != "bytes" or len(shape) != 1:
        _fail(where, "one buffer named chunk, dtype bytes, shape [n]", desc)
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        _fail(where, f"at most {MAX_ELEMENTS} elements", count)
    if dtype != "png" and count * _DTYPE_SIZES[dtype] != desc["nbytes"]:
        _fail(where, f"nbytes = {count} elements x {_DTYPE_SIZES[dtype]} bytes", desc["nbytes"])
    size = memoryview(buf).nbytes
    if size != desc["nbytes"]:
        _fail(where, f"{desc['nbytes']} bytes as the header says", f"{size} bytes")
    if verify and zlib.crc32(buf) & 0xFFFFFFFF != desc["crc32"]:
        raise ProtocolError("bad_message", f"{where}: CRC-32 mismatch (the data was damaged in transit)")


# ----------------------------------------------------------------------------- messages


@dataclass
class Message:
    """A decoded, validated message: its type, its header and its raw buffers by name."""

    type: str
    header: dict
    buffers: dict = field(default_factory=dict)

    def array(self, name: str) -> np.ndarray | None:
        """A numeric buffer as a read-only numpy array of its declared shape (None when absent)."""
        desc = next((d for d in self.header.get("buffers", ()) if d["name"] == name), None)
        if desc is None:
            return None
        return np.frombuffer(self.buffers[name], dtype=desc["dtype"]).reshape(desc["shape"])


def encode(mtype: str, header: dict | None = None, buffers=(), validate: bool = True) -> list:
    """A multipart message ready for `socket.send_multipart`: the JSON header (with `type` and `v`
    added), then the buffers as given (zero-copy). `validate` checks the header first."""
    full = {"type": mtype, "v": PROTOCOL_VERSION, **(header or {})}
    if validate:
        validate_header(full)
    data = json.dumps(full, separators=(",", ":"), allow_nan=False).encode()
    if len(data) > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"{mtype} header is {len(data)} bytes, the limit is {MAX_HEADER_BYTES}")
    return [data, *buffers]


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def decode(frames: list, allowed: tuple = tuple(SCHEMAS), verify: bool = True) -> Message:
    """Parse and validate a received multipart message (`frames`: bytes or zmq frames).

    `allowed` limits the message types this side accepts; `verify` checks buffer CRC-32s.
    Raises `ProtocolError` (code `bad_message`, `version_mismatch` or `too_large`) naming the problem.
    """
    if not frames:
        raise ProtocolError("bad_message", "empty message: expected a JSON header frame")
    if len(frames) > 1 + MAX_BUFFERS:
        raise ProtocolError("bad_message", f"{len(frames)} frames: expected a header and at most {MAX_BUFFERS} buffers")
    raw = frames[0]
    raw = raw.bytes if hasattr(raw, "bytes") else bytes(raw)
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError("too_large", f"header of {len(raw)} bytes: the limit is {MAX_HEADER_BYTES}")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError("bad_message", f"header is not valid UTF-8 JSON: {str(exc)[:200]}") from None
    validate_header(header)
    mtype = header["type"]
    if mtype not in allowed:
        raise ProtocolError("bad_message", f"{mtype}: not a message this side accepts (expected {', '.join(allowed)})")
    buffers_desc = header.get("buffers", [])
    payload = frames[1:]
    if len(payload) != len(buffers_desc) or len(payload) > _WITH_BUFFERS.get(mtype, 0):
        raise ProtocolError(
            "bad_message", f"{mtype}: the header describes {len(buffers_desc)} buffers, {len(payload)} arrived"
        )
    names = [d["name"] for d in buffers_desc]
    if len(set(names)) != len(names):
        raise ProtocolError("bad_message", f"{mtype}: buffer names repeat ({', '.join(names)})")
    buffers = {}
    for desc, frame in zip(buffers_desc, payload, strict=True):
        buf = frame.buffer if hasattr(frame, "buffer") else frame
        _check_buffer(desc, buf, verify, mtype)
        buffers[desc["name"]] = buf
    return Message(mtype, header, buffers)


def error(code: str, message: str, req: int | None = None, job: str | None = None, index: int | None = None) -> list:
    """An encoded ERROR message."""
    header: dict = {"code": code, "message": message[:4000]}
    if req is not None:
        header["req"] = req
    if job is not None:
        header["job"] = job
    if index is not None:
        header["index"] = index
    return encode("ERROR", header)
