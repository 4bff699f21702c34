"""A reconstruction job's options: the one declaration that every front end follows.

`ReconstructConfig` below is read by the CLI (`reconstruct`, `batch` and `serve` generate their flags
and help from it), by the server's SUBMIT and the batch (`from_wire`, `validate`), by the wire
schema (`protocol.OPTIONS` is built from it) and by the Blender panel (its properties are pinned to
it by a test). Adding an option here is the whole change for every front end except the panel,
whose test names what is missing.

Each field's metadata says where it goes (`scope`):
- `job`: everywhere (CLI, SUBMIT, batch, panel, manifest);
- `worker`: how a process runs its jobs (CLI of `reconstruct`, `batch` and `serve`), never taken
  from a client, since it names files and devices of the server's machine;
- `wire`: only over the wire (what a live front end asks for, such as the preview's triplanes).

Pure Python: the add-on imports it inside Blender.
"""

import ast
import inspect
import re
from dataclasses import dataclass, field, fields

MODES = ("fused", "per-frame")
"""`mode`: `fused` (the method) or `per-frame` (the single-image lifter alone)."""
TEXTURE_MODES = ("projected", "field")
"""`texture`: `projected` (colour from the frame's pixels, the reference's where the frame does not see, the
field's elsewhere) or `field` (the field's colour baked)."""
TEXTURE_SPANS = ("frame", "clip")
"""`texture_span`: a texture per frame, or one fused over the clip (tracked topology)."""
TOPOLOGIES = ("per-frame", "tracked")
"""`topology`: a new marching-cubes mesh per frame, or the head template fitted to each frame (one mesh)."""
NO_FACE_POLICIES = ("hold", "skip")
"""`no_face`: what a frame without a usable face becomes."""
MESH_RESOLUTION_STEP = 4
"""`mesh_resolution` is a multiple of this: the coarse-to-fine extraction's coarse factor."""
DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"
"""`device`: `auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`."""
SCOPES = ("job", "worker", "wire")


def _option(default, *, flag=None, choices=(), lo=None, hi=None, step=None, pattern=None, scope="job"):
    return field(
        default=default,
        metadata={
            "flag": flag,
            "choices": choices,
            "lo": lo,
            "hi": hi,
            "step": step,
            "pattern": pattern,
            "scope": scope,
        },
    )


class OptionError(ValueError):
    """An option value no job can run with: `name` (field), `value`, and `allowed` in words."""

    def __init__(self, name: str, value, allowed: str):
        super().__init__(f"{name} {value!r}: expected {allowed}")
        self.name, self.value, self.allowed = name, value, allowed


@dataclass
class ReconstructConfig:
    """The options of one reconstruction job."""

    mode: str = _option("fused", choices=MODES)
    """fused: every frame lifted, undistorted and fused with the reference's prior (the method);
    per-frame: the single-image lifter alone on every frame (the baseline)."""
    mesh_resolution: int = _option(128, flag="--mesh-res", lo=8, hi=512, step=MESH_RESOLUTION_STEP)
    """Marching-cubes cells per side of the box."""
    texture: str = _option("projected", choices=TEXTURE_MODES)
    """projected: each texel coloured from the frame where the plate camera sees it, the reference image
    where only it does, the field elsewhere; field: the field's own colour baked."""
    texture_size: int = _option(1024, flag="--texture-size", lo=0, hi=2048)
    """Texture side in pixels (0: vertex colours only)."""
    topology: str = _option("tracked", choices=TOPOLOGIES)
    """tracked: the head template (15,718 vertices, the same faces and UVs) fitted to each frame's field, so
    a clip is one mesh whose vertices move (what rigs, shape keys and motion blur need); per-frame: each
    frame's own marching-cubes mesh (every detail of the field, a new vertex count per frame)."""
    texture_span: str = _option("frame", choices=TEXTURE_SPANS)
    """Tracked topology: frame: each frame's own texture in the template's UVs; clip: one texture fused over
    the frames (each texel weighted by how well each frame saw it): every frame carries the fusion so far,
    the last one the whole clip's, written as clip_texture.png."""
    track_smoothing: int = _option(2, flag="--track-smoothing", lo=0, hi=8)
    """Tracked topology: each frame's vertices averaged with this many frames on each side in its shot (a
    centred Gaussian: no lag; each frame comes out that many frames later); 0: the fits as they are."""
    no_face: str = _option("hold", choices=NO_FACE_POLICIES)
    """A frame without a usable face: hold the last good view for a few frames, or skip it."""
    start: int = _option(0, flag="--frames", lo=0, hi=10_000_000)
    """First source frame."""
    stop: int | None = _option(None, flag="--frames", lo=1, hi=10_000_000)
    """One past the last source frame (None: to the end)."""
    stride: int = _option(1, flag="--frames", lo=1, hi=10_000)
    """Take every stride-th source frame."""
    reference_frame: int | None = _option(None, flag="--ref-frame", lo=0, hi=10_000_000)
    """Use this source frame of the video as the reference instead of a reference image."""
    focal_px: int | None = _option(None, flag="--focal-px", lo=1, hi=1_000_000)
    """The plate camera's focal length in pixels when it is known (lens mm / sensor width mm x image width);
    None guesses the longer image side (53 deg across it). The pose solve does not estimate it, and the
    Blender plate camera takes whatever this gives."""
    mattes: bool = _option(False)
    """Also a person matte per frame (MediaPipe's selfie segmentation: 0 background, 255 person) and a clean
    background plate (the temporal median of the pixels no matte covers), for compositing over the footage."""
    triplanes: bool = _option(False, scope="wire")
    """Also send each frame's triplane and decoder (float16) for the live preview."""
    weights: str | None = _option(None, scope="worker")
    """Lifter checkpoint (None: the shipped weights)."""
    fusion_weights: str | None = _option(None, scope="worker")
    """Undistorter + fuser checkpoint for fused mode, trained on that lifter (None: the shipped weights)."""
    device: str = _option("auto", pattern=DEVICE_PATTERN, scope="worker")
    """auto (CUDA when present, else CPU), cpu, cuda or cuda:N."""

    def validate(self) -> "ReconstructConfig":
        """Refuse a value no job can run with: `OptionError` naming the option, the value and what is
        allowed (before any file is read or network loaded). Returns self."""
        for f in fields(self):
            value, m = getattr(self, f.name), f.metadata
            if value is None and f.default is None:
                continue
            if m["choices"]:
                if value not in m["choices"]:
                    raise OptionError(f.name, value, f"one of {', '.join(m['choices'])}")
            elif m["pattern"]:
                if not isinstance(value, str) or not re.fullmatch(m["pattern"], value):
                    raise OptionError(f.name, value, m["pattern"].replace("|", ", ").replace(r"(:\d+)?", "[:N]"))
            elif isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise OptionError(f.name, value, "true or false")
            elif m["lo"] is not None:
                allowed = f"an integer from {m['lo']} to {m['hi']}"
                if m["step"]:
                    allowed = f"a multiple of {m['step']} from {max(m['lo'], m['step'])} to {m['hi']}"
                if isinstance(value, bool) or not isinstance(value, int) or not m["lo"] <= value <= m["hi"]:
                    raise OptionError(f.name, value, allowed)
                if m["step"] and value % m["step"]:
                    raise OptionError(f.name, value, allowed)
            elif not isinstance(value, str):
                raise OptionError(f.name, value, "a path")
        if self.stop is not None and self.stop <= self.start:
            raise OptionError("stop", self.stop, f"more than start ({self.start})")
        if self.texture_span == "clip" and self.topology != "tracked":
            raise OptionError("texture_span", self.texture_span, "frame with topology per-frame (clip needs tracked)")
        return self

    def to_wire(self) -> dict:
        """The options a client may send (scopes `job` and `wire`), as plain data."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["scope"] != "worker"}

    def from_wire(self, options: dict) -> "ReconstructConfig":
        """A copy with a client's options (those it gave) over these defaults, validated; a `worker`
        option from a client is refused."""
        names = {f.name: f for f in fields(self)}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in options.items():
            if name not in names or names[name].metadata["scope"] == "worker":
                raise OptionError(name, value, f"one of the job options {', '.join(wire_option_names())}")
            values[name] = value
        return ReconstructConfig(**values).validate()


def option_fields(scopes: tuple[str, ...] = SCOPES):
    """The `dataclasses.Field`s of `ReconstructConfig` in `scopes`, in declaration order."""
    return [f for f in fields(ReconstructConfig) if f.metadata["scope"] in scopes]


def wire_option_names() -> list[str]:
    """Names of the options a client may send."""
    return [f.name for f in option_fields(("job", "wire"))]


def option_docs() -> dict[str, str]:
    """Field name -> its docstring (the attribute docstrings under each field, read from the source)."""
    tree = ast.parse(inspect.getsource(ReconstructConfig))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def parse_frame_range(text: str) -> tuple[int, int | None, int]:
    """`"A:B"`, `"A:"`, `":B"` or `"A:B:S"` -> (start, stop, stride); stop None means to the end."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"frame range {text!r}: expected A:B or A:B:STRIDE")
    try:
        start = int(parts[0]) if parts[0] else 0
        stop = int(parts[1]) if parts[1] else None
        stride = int(parts[2]) if len(parts) == 3 and parts[2] else 1
    except ValueError as exc:
        raise ValueError(f"frame range {text!r}: expected integers, as in 10:200 or 0:100:2") from exc
    if start < 0 or stride < 1 or (stop is not None and stop <= start):
        raise ValueError(f"frame range {text!r}: need 0 <= A < B and STRIDE >= 1")
    return start, stop, stride
