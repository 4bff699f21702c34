"""Where a run's frames go. A sink has two methods, both called by `task.run_task`:

- `start(source)`: before the first frame; `source` has the video's `fps`, `width`, `height` and
  `frames_total` (frames this run will produce, None when the video does not say);
- `write(out, seq) -> entry | None`: one finished `pipeline.FrameOutput`, stored as frame `seq`; returns
  the frame's manifest entry where this sink writes files for it (it then travels in the frame's report).

`StoreSink` writes the server's crash-safe job store, `FolderSink` a folder (meshes, manifest, preview),
`ClipFiles` only the per-frame files of a folder (a batch's chunks, whose manifest the batch writes),
and `Both` two of them.
"""

import shutil
from pathlib import Path

import numpy as np

from backend.files import atomic_write
from backend.mesh.writers import png_bytes
from backend.run import manifest as mf
from headfuse_wire.options import ReconstructConfig

PREVIEW_FRAMES = 6
"""Frames in a folder's contact sheet `preview.png` by default."""
PREVIEW_ROWS = ".preview"
"""Hidden folder of contact-sheet rows while a clip runs (several processes may write them)."""


def frame_record(out, job: str, seq: int, triplanes: bool = False, topology: int | None = None) -> tuple[dict, list]:
    """A pipeline `FrameOutput` as a FRAME header (without its digest) and its raw buffers; with
    `triplanes`, the frame's field too (planes `[3, C, H, W]` and decoder arrays, float16). `topology`: the
    seq of the frame that carries this (tracked) frame's faces and UVs; other frames leave them out."""
    from backend.render.glsl import decoder_arrays
    from backend.units import METRES_PER_BOX_UNIT
    from headfuse_wire import protocol

    names, buffers = [], []
    mesh = out.mesh
    if mesh is not None:
        arrays = {
            "vertices": (mesh.vertices, np.float32),
            "faces": (mesh.faces, np.int32),
            "colors": (mesh.colors, np.uint8),
            "uv": (mesh.uv, np.float32),
            "normals": (mesh.normals, np.float32),
        }
        for name, (arr, dtype) in arrays.items():
            if arr is not None and not (topology not in (None, seq) and name in protocol.TOPOLOGY_BUFFERS):
                arr = np.ascontiguousarray(arr, dtype=dtype)
                names.append(protocol.describe(name, arr))
                buffers.append(arr)
        if mesh.texture is not None:
            png = mesh.texture_png()
            names.append(protocol.describe("texture", png, "png", mesh.texture.shape))
            buffers.append(png)
    if out.matte is not None:
        png = png_bytes(out.matte)  # grey: a 2-D image
        names.append(protocol.describe("matte", png, "png", (*out.matte.shape, 1)))
        buffers.append(png)
    if triplanes and out.triplane is not None:
        field = {"planes": out.triplane.planes[0].detach().cpu().numpy(), **decoder_arrays(out.triplane.decoder)}
        for name, arr in field.items():
            arr = np.ascontiguousarray(arr, dtype=np.float16)
            names.append(protocol.describe(name, arr))
            buffers.append(arr)
    header = {
        "job": job,
        "seq": seq,
        "index": int(out.index),
        "status": out.status,
        "reason": out.reason,
        "cut": bool(out.cut),
        "camera": out.camera,
        "timings_ms": {k: round(float(v), 3) for k, v in out.timings_ms.items()},
        "metres_per_box_unit": METRES_PER_BOX_UNIT,
        "buffers": names,
    }
    if topology is not None:
        header["topology"] = topology
    return header, buffers


class StoreSink:
    """Frames into a `server.store.JobStore` job (what the server streams to clients). With `tracked`, the
    first frame with a mesh carries the faces and UVs and the others name it (`topology`): they send only
    what changes."""

    def __init__(self, store, job: str, triplanes: bool = False, tracked: bool = False):
        self.store, self.job, self.triplanes, self.tracked = store, job, triplanes, tracked
        self.topology: int | None = None

    def start(self, source: dict) -> None:
        """Nothing to prepare: the job's folder exists."""

    def write(self, out, seq: int) -> None:
        """Store the frame (crash-safe; every frame, with a mesh or not)."""
        if self.tracked and out.mesh is not None and self.topology is None:
            self.topology = seq
        topology = self.topology if out.mesh is not None else None
        header, buffers = frame_record(out, self.job, seq, self.triplanes, topology)
        stored = self.store.write_frame(self.job, seq, header, buffers)
        if self.tracked and stored.get("topology") != topology:  # an earlier try's frame was kept: follow it
            self.topology = stored.get("topology")  # (None: it has no faces; the next mesh frame carries them)


class ClipFiles:
    """The per-frame files of a clip folder: `DIR/meshes/frame_NNNNNN.FMT` for each format, the person matte
    `DIR/mattes/matte_NNNNNN.png` when the frame has one (also a frame without a mesh) and, for the source
    frames in `preview`, a contact-sheet row `DIR/.preview/NNNNNN.png`."""

    def __init__(self, dir: str | Path, formats: list[str], preview: list[int]):
        self.dir = Path(dir)
        self.formats = list(formats)
        self.preview = set(preview)

    def start(self, source: dict) -> None:
        """Make the meshes folder."""
        (self.dir / "meshes").mkdir(parents=True, exist_ok=True)

    def write(self, out, seq: int) -> dict | None:
        """Write the files of one frame; its manifest entry (None for a frame without a mesh)."""
        from backend.mesh.writers import write_mesh
        from backend.preview import contact_sheet_row

        if out.matte is not None:
            (self.dir / mf.MATTES_DIR).mkdir(exist_ok=True)
            atomic_write(self.dir / mf.matte_path(int(out.index)), png_bytes(out.matte))
        if out.mesh is None:
            return None
        files = {}
        for fmt in self.formats:
            path = write_mesh(out.mesh, self.dir / "meshes" / f"frame_{out.index:06d}.{fmt}")
            files[fmt] = path.relative_to(self.dir).as_posix()
        if out.index in self.preview and out.crop is not None and out.triplane is not None:
            (self.dir / PREVIEW_ROWS).mkdir(exist_ok=True)
            atomic_write(self.dir / PREVIEW_ROWS / f"{out.index:06d}.png", png_bytes(contact_sheet_row(out)))
        return mf.frame_entry(out, files)


def preview_frames(start: int, stride: int, count: int | None, frames: int = PREVIEW_FRAMES) -> list[int]:
    """The source frames of a contact sheet: `frames` spread evenly over `count` taken frames."""
    count = frames if count is None else count
    every = max(1, count // max(1, frames))
    return [start + k * stride for k in range(0, count, every)][:frames]


def write_preview(folder: Path) -> Path | None:
    """Stack the rows in `folder/.preview` into `folder/preview.png` and drop them; None when there are none."""
    from PIL import Image

    from backend.preview import save_contact_sheet

    rows = sorted((folder / PREVIEW_ROWS).glob("[0-9]*.png"))
    path = None
    if rows:
        path = save_contact_sheet([np.asarray(Image.open(p).convert("RGB")) for p in rows], folder / "preview.png")
    shutil.rmtree(folder / PREVIEW_ROWS, ignore_errors=True)
    return path


class FolderSink:
    """A clip's output folder as `headfuse reconstruct` writes it: meshes, `manifest.json` (rewritten after
    every frame, so an interrupted run leaves a valid index of what is on disk) and, on `close`, the
    contact sheet `preview.png`. A manifest of an earlier run that lists frames is left as it is until
    this run has a frame, then kept as `manifest.prev.json`: a run that fails early loses no index."""

    def __init__(self, dir: str | Path, video: str, reference: str | None, cfg: ReconstructConfig,
                 formats: list[str], preview: int = PREVIEW_FRAMES):  # fmt: skip
        self.dir = Path(dir)
        self.video, self.reference, self.cfg = video, reference, cfg
        self.formats, self.preview = formats, preview
        self.files: ClipFiles | None = None
        self.manifest: dict | None = None
        self._earlier = False
        self._plate = None
        self._texture: bytes | None = None  # with texture_span clip: the last frame's texture PNG, the clip's

    def start(self, source: dict) -> None:
        """Write an empty manifest (unless an earlier run's is there); choose the preview frames."""
        shutil.rmtree(self.dir / PREVIEW_ROWS, ignore_errors=True)
        picks = preview_frames(self.cfg.start, self.cfg.stride, source.get("frames_total"), self.preview)
        self.files = ClipFiles(self.dir, self.formats, picks if self.preview else [])
        self.files.start(source)
        label = mf.reference_label(self.reference, self.cfg)
        self.manifest = mf.manifest_header(self.video, label, self.cfg, source)
        self._earlier = mf.lists_frames(self.dir)
        if self.cfg.mattes:
            from backend.face.matte import CleanPlate

            self._plate = CleanPlate()
        if not self._earlier:
            mf.write_manifest(self.dir, self.manifest)

    def write(self, out, seq: int) -> dict | None:
        """Write the frame's files and the manifest."""
        entry = self.files.write(out, seq)
        if self._plate is not None and out.plate is not None:
            self._plate.add(out.plate, out.matte)
        if self.cfg.texture_span == "clip" and out.mesh is not None and out.mesh.texture is not None:
            self._texture = out.mesh.texture_png()
        if entry is None:
            self.manifest["skipped"].append(mf.skipped_entry(out))
        else:
            self.manifest["frames"].append(entry)
            if self._earlier:
                mf.keep_previous(self.dir)
                self._earlier = False
        if not self._earlier:
            mf.write_manifest(self.dir, self.manifest)
        return entry

    def close(self, elapsed_s: float | None = None) -> Path | None:
        """Write the manifest (with the run's time) and the contact sheet; returns the sheet's path (None
        when no frame had a mesh)."""
        if self.manifest is None or self._earlier:
            shutil.rmtree(self.dir / PREVIEW_ROWS, ignore_errors=True)
            return None
        if elapsed_s is not None:
            self.manifest["elapsed_s"] = round(elapsed_s, 2)
        plate = self._plate.plate() if self._plate is not None else None
        if plate is not None:
            atomic_write(self.dir / mf.CLEAN_PLATE, png_bytes(plate))
            self.manifest["clean_plate"] = mf.CLEAN_PLATE
        if self._texture is not None:
            atomic_write(self.dir / mf.CLIP_TEXTURE, self._texture)
            self.manifest["clip_texture"] = mf.CLIP_TEXTURE
        mf.write_manifest(self.dir, self.manifest)
        return write_preview(self.dir)


class Both:
    """Two sinks in order; the frame's entry is the second's when it has one, else the first's."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def start(self, source: dict) -> None:
        """Start both."""
        self.first.start(source)
        self.second.start(source)

    def write(self, out, seq: int) -> dict | None:
        """Write to both."""
        a = self.first.write(out, seq)
        b = self.second.write(out, seq)
        return b if b is not None else a


def job_sink(store, job: str, options: dict, outputs: dict | None = None):
    """The sink of a pooled task: its job in the store (the job's wire `options` say whether it keeps
    triplanes and is tracked) and, with `outputs`, the per-frame files of its clip folder
    (`ClipFiles(**outputs)`, a batch's chunks)."""
    cfg = ReconstructConfig().from_wire({k: v for k, v in options.items() if k in ("triplanes", "topology")})
    sink = StoreSink(store, job, cfg.triplanes, cfg.topology == "tracked")
    return Both(sink, ClipFiles(**outputs)) if outputs else sink
