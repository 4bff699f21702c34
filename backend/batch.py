"""Batches: many clips, each split into chunks of frames that run in parallel (`headfuse batch`).

A clip of N frames becomes chunks of `chunk` frames; chunk c covers frames `[c*chunk, (c+1)*chunk)` and
starts `warmup` frames early (`WorkTask.warmup`): those frames warm the recurrent state and the face
tracker's smoothing and are dropped, so the chunk's first frame is computed as in an unchunked run.
Chunks go to a `RayPool` (a Ray cluster) or an `InlinePool` (this process); every frame lands in the job
store `OUT/.store/<clip>/` first, then the per-clip outputs that `headfuse reconstruct` writes:
`OUT/<clip>/meshes/frame_NNNNNN.glb`, `manifest.json`, `preview.png`. A clip that fails (unreadable,
no reference, no face) fails alone; the others go on.

Each clip's reference image is a sidecar file beside it, `NAME.ref.png` (or `.ref.jpg` / `.ref.jpeg`)
for `NAME.mp4` (or a folder `NAME/`), else frame `reference_frame` (an option) of the clip itself.
"""

import json
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from glob import glob, has_magic
from pathlib import Path

import numpy as np

from backend.execution.store import JobStore
from backend.files import atomic_write
from backend.run import manifest as mf
from backend.run.sinks import PREVIEW_ROWS, preview_frames
from backend.run.task import RESUME_WARMUP, WorkTask, no_usable_face
from headfuse_wire.options import ReconstructConfig

SIDECAR_SUFFIXES = (".ref.png", ".ref.jpg", ".ref.jpeg")
"""Reference image names beside a clip `NAME.EXT`: `NAME.ref.png` and so on, first found wins."""
LIST_SUFFIXES = (".txt", ".list")
"""A clip argument with one of these suffixes is a list file: one clip per line (`#` comments)."""
STORE_DIR = ".store"
"""The job store's folder inside the output folder."""


class BatchError(ValueError):
    """The batch cannot start (no clips, bad arguments)."""


@dataclass
class Clip:
    """One clip of a batch and what became of it."""

    name: str
    """Output folder name (unique in the batch) and job id in the store."""
    video: Path
    """The clip (anything `backend.video` reads)."""
    reference: Path | None = None
    """Its sidecar reference image (None: the options' `reference_frame` of the clip is used)."""
    frames_total: int | None = None
    """Frames the clip has."""
    chunks: int = 0
    """Chunks it was split into."""
    chunks_done: int = 0
    """Chunks that have finished."""
    frames: dict = field(default_factory=dict)
    """Manifest entries of finished frames with a mesh, by source index."""
    skipped: dict = field(default_factory=dict)
    """Manifest entries of finished frames without a mesh (index, reason, cut), by source index."""
    held: int = 0
    """Frames whose face was lost and the last good view reused."""
    error: str | None = None
    """Why the clip failed (None: it did not)."""
    elapsed_s: float = 0.0
    """Wall time from its first chunk's start to its last chunk's end."""
    kept: bool = False
    """An earlier run into the same folder finished it with the same settings: kept, not redone."""

    @property
    def done(self) -> bool:
        """No more work will run for it."""
        return self.kept or self.error is not None or (self.chunks > 0 and self.chunks_done == self.chunks)

    @property
    def frames_done(self) -> int:
        """Finished frames (with or without a mesh)."""
        return len(self.frames) + len(self.skipped)


def sidecar(video: Path) -> Path | None:
    """The reference image beside `video` (`NAME.ref.png` for `NAME.mp4` or a folder `NAME`), or None."""
    stem = video.name if video.is_dir() else video.stem
    for suffix in SIDECAR_SUFFIXES:
        path = video.with_name(stem + suffix)
        if path.is_file():
            return path
    return None


def _is_reference(path: Path) -> bool:
    return any(path.name.lower().endswith(s) for s in SIDECAR_SUFFIXES)


def find_clips(items: list[str]) -> list[Clip]:
    """Clips from files, folders, glob patterns and list files (one path per line, relative to the list file;
    blank lines and `#` comments skipped); sidecar references matched by a glob are not clips. Raises
    `BatchError` for a path that does not exist or a glob that matches nothing."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if has_magic(item):
            matches = sorted(Path(m) for m in glob(item))
            if not matches:
                raise BatchError(f"batch: {item} matches no file")
            paths += [m for m in matches if not _is_reference(m)]
        elif p.suffix.lower() in LIST_SUFFIXES and p.is_file():
            for n, line in enumerate(p.read_text().splitlines(), 1):
                line = line.split("#", 1)[0].strip()
                if line:
                    entry = Path(line) if Path(line).is_absolute() else p.parent / line
                    if not entry.exists():
                        raise BatchError(f"batch: {p}:{n}: {entry} does not exist")
                    paths.append(entry)
        elif p.exists():
            paths.append(p)
        else:
            raise BatchError(f"batch: {item} does not exist")
    clips, names = [], Counter()
    for path in paths:
        stem = path.name if path.is_dir() else path.stem
        names[stem] += 1
        name = stem if names[stem] == 1 else f"{stem}_{names[stem]}"
        clips.append(Clip(name, path, sidecar(path)))
    if not clips:
        raise BatchError("batch: no clips given")
    return clips


def plan_chunks(
    job: str,
    video: str,
    frames: int,
    chunk: int,
    warmup: int,
    reference: str = "",
    cfg: ReconstructConfig | None = None,
) -> list[WorkTask]:
    """WorkTasks for a clip of `frames` frames, over `cfg`'s frame range (default: all, with default options):
    chunks of `chunk` taken frames, each but the first started `warmup` frames early."""
    if chunk < 1 or warmup < 0:
        raise BatchError(f"batch: need --chunk >= 1 and --warmup >= 0 (got {chunk} and {warmup})")
    cfg = cfg or ReconstructConfig()
    taken = range(cfg.start, frames if cfg.stop is None else min(cfg.stop, frames), cfg.stride)
    tasks = []
    for seq in range(0, len(taken), chunk):
        first = taken[seq]
        stop = min(taken.stop, first + chunk * cfg.stride)
        options = {**cfg.to_wire(), "start": first, "stop": stop}
        tasks.append(WorkTask(job=job, video=video, reference=reference, options=options, first_seq=seq, warmup=warmup))
    return tasks


@dataclass
class BatchOptions:
    """How every clip of a batch is reconstructed."""

    job: ReconstructConfig = field(default_factory=ReconstructConfig)
    """How every clip is reconstructed: its frame range applies to each clip, and `reference_frame` is the
    reference of clips without a reference image beside them."""
    formats: list[str] = field(default_factory=lambda: ["glb"])
    """Mesh file formats."""
    chunk: int = 32
    """Frames per chunk."""
    warmup: int = RESUME_WARMUP
    """Frames each chunk (but a clip's first) starts early."""
    preview_frames: int = 6
    """Frames in each clip's contact sheet `preview.png` (0: none; each costs two volume renders)."""
    redo: bool = False
    """Redo clips an earlier run into the same folder finished (default: keep them)."""


class Batch:
    """Runs `clips` through `pool` (any pool of `backend.execution` on the store `out/.store`) into `out`.

    `start()` checks every clip and queues its chunks; `step(timeout)` handles the events that arrive
    and returns the number of frames that finished; `finished` says when all is done; `cancel()` stops
    the rest; `close()` writes every clip's manifest and preview (also after a cancel)."""

    def __init__(self, clips: list[Clip], out: Path, pool, options: BatchOptions):
        self.clips = {c.name: c for c in clips}
        self.out = Path(out)
        self.pool = pool
        self.options = options
        self.store = JobStore(self.out / STORE_DIR)
        self._started: dict[str, float] = {}
        self._manifests: dict[str, dict] = {}

    @property
    def frames_total(self) -> int:
        """Frames in all clips that could be opened."""
        return sum(c.frames_total or 0 for c in self.clips.values() if c.chunks)

    @property
    def finished(self) -> bool:
        """Every clip is done or failed and nothing runs."""
        return all(c.done for c in self.clips.values()) and not self.pool.pending()

    def start(self) -> None:
        """Check each clip (readable, a reference, frames) and queue its chunks; a bad clip fails here."""
        from backend.pipeline import frame_count
        from backend.video import VideoError, open_video

        o = self.options
        for clip in self.clips.values():
            try:
                info = open_video(clip.video).info
            except (FileNotFoundError, VideoError) as exc:
                clip.error = f"bad_video: {exc}"
                continue
            ref_frame = None if clip.reference else o.job.reference_frame
            if clip.reference is None and ref_frame is None:
                names = " or ".join(clip.video.with_name(clip.video.stem + s).name for s in SIDECAR_SUFFIXES[:2])
                clip.error = f"no_reference: {clip.video}: put {names} beside it, or pass --ref-frame N"
                continue
            if not info.frame_count:
                clip.error = f"bad_video: {clip.video}: the number of frames cannot be read"
                continue
            cfg = replace(o.job, reference_frame=ref_frame)
            clip.frames_total = frame_count(info, cfg)
            d = self.out / clip.name
            settings = self._settings(clip)
            if not o.redo and self._keep_earlier(clip, settings):
                continue
            (d / "meshes").mkdir(parents=True, exist_ok=True)
            shutil.rmtree(d / PREVIEW_ROWS, ignore_errors=True)
            shutil.rmtree(self.store.job_dir(clip.name), ignore_errors=True)  # a new run starts afresh
            self.store.create({"job": clip.name, "state": "running", "created": time.time(), "video": str(clip.video)})
            reference = str(clip.reference.resolve()) if clip.reference else ""
            tasks = plan_chunks(
                clip.name, str(clip.video.resolve()), info.frame_count, o.chunk, o.warmup, reference, cfg
            )
            preview = preview_frames(cfg.start, cfg.stride, clip.frames_total, o.preview_frames)
            outputs = {"dir": str(d.resolve()), "formats": o.formats, "preview": preview}
            clip.chunks = len(tasks)
            label = str(clip.reference) if clip.reference else mf.reference_label(None, cfg)
            source = {"fps": info.fps, "width": info.width, "height": info.height}
            self._manifests[clip.name] = {
                **mf.manifest_header(str(clip.video), label, cfg, source),
                "chunks": {"chunk": o.chunk, "warmup": o.warmup, "count": len(tasks)},
                "batch_settings": settings,
            }
            for task in tasks:
                self.pool.submit(task, outputs)

    def _settings(self, clip: Clip) -> dict:
        """What a clip's result depends on: the options, and the clip and reference files as they are now."""
        o = self.options

        def stamp(path: Path) -> list:
            st = path.stat()
            return [str(path.resolve()), st.st_size, st.st_mtime_ns]

        job = {k: v for k, v in o.job.to_wire().items() if k not in ("triplanes", "reference_frame")}
        return {
            **job, "formats": list(o.formats),
            "video": stamp(clip.video),
            "reference": stamp(clip.reference) if clip.reference else f"frame {o.job.reference_frame}",
        }  # fmt: skip

    def _keep_earlier(self, clip: Clip, settings: dict) -> bool:
        """Take over the clip's result from an earlier run if it finished every frame, without error, with
        the same settings, and every mesh file it lists is there."""
        d = self.out / clip.name
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except (OSError, ValueError):
            return False
        frames, skipped = manifest.get("frames", []), manifest.get("skipped", [])
        if (
            manifest.get("error") is not None
            or manifest.get("batch_settings") != settings
            or len(frames) + len(skipped) != clip.frames_total
            or not all((d / f).is_file() for fr in frames for f in fr["files"].values())
        ):
            return False  # fmt: skip
        clip.frames = {fr["index"]: fr for fr in frames}
        clip.skipped = {sk["index"]: sk for sk in skipped}
        clip.held = sum(fr["status"] == "held" for fr in frames)
        clip.elapsed_s = float(manifest.get("elapsed_s", 0.0))
        clip.kept = True
        return True

    def step(self, timeout: float = 0.2) -> int:
        """Handle the events that arrive within `timeout` seconds; returns the frames newly finished."""
        new = 0
        for task, event in self.pool.poll(timeout):
            clip = self.clips[task.job]
            kind = event["event"]
            if kind == "started":
                self._started.setdefault(clip.name, time.perf_counter())
            elif kind == "frame" and clip.error is None:
                new += self._on_frame(clip, event)
            elif kind == "failed" and clip.error is None:
                where = f" frame {event['index']}" if event.get("index") is not None else ""
                if event["code"] in ("no_face", "bad_reference"):
                    where += f" (reference {clip.reference or f'frame {self.options.job.reference_frame}'})"
                clip.error = f"{event['code']}: {clip.video}{where}: {event['message']}"
                self.pool.cancel(clip.name)
                self._finish(clip)
            elif kind == "finished":
                clip.chunks_done += 1
                if clip.chunks_done == clip.chunks and clip.error is None:
                    self._finish(clip)
        return new

    def _on_frame(self, clip: Clip, event: dict) -> int:
        index = event["index"]
        if index in clip.frames or index in clip.skipped:
            return 0  # a retried chunk re-announcing a frame that is already stored
        if event["status"] == "skipped":
            clip.skipped[index] = {"index": index, "reason": event["reason"], "cut": event.get("cut", False)}
            return 1
        clip.held += event["status"] == "held"
        clip.frames[index] = {**event["entry"], "seq": event["seq"]}
        return 1

    def _finish(self, clip: Clip) -> None:
        if clip.name in self._started:
            clip.elapsed_s = time.perf_counter() - self._started[clip.name]
        if clip.error is None and clip.frames_done and not clip.frames:
            reasons = [sk["reason"] for sk in clip.skipped.values()]
            reference = clip.reference or f"frame {self.options.job.reference_frame}"
            clip.error = f"no_face: {no_usable_face(str(clip.video), str(reference), clip.frames_done, reasons)}"
        if self.options.job.mattes:
            self._clean_plate(clip)
        self._write(clip)

    def _clean_plate(self, clip: Clip) -> None:
        """The clip's mattes indexed on its skipped frames too, and its clean plate from them (chunks run
        apart, so the plate is made once the clip is done, from the mattes on disk and the video)."""
        from backend.face.matte import clean_plate_of
        from backend.mesh.writers import png_bytes

        d = self.out / clip.name
        mattes = {i: d / mf.matte_path(i) for i in [*clip.frames, *clip.skipped] if (d / mf.matte_path(i)).is_file()}
        for i, entry in clip.skipped.items():
            if i in mattes:
                entry["matte"] = mf.matte_path(i)
        plate = clean_plate_of(clip.video, mattes)
        if plate is not None:
            atomic_write(d / mf.CLEAN_PLATE, png_bytes(plate))
            self._manifests[clip.name]["clean_plate"] = mf.CLEAN_PLATE

    def _write(self, clip: Clip) -> None:
        """The clip's manifest.json (and preview.png from the rows its workers rendered, which stay until
        `close` since later chunks may add more)."""
        from PIL import Image

        from backend.preview import save_contact_sheet

        if clip.name not in self._manifests:
            return
        d = self.out / clip.name
        manifest = dict(self._manifests[clip.name])
        manifest["frames"] = list(clip.frames.values())
        manifest["skipped"] = list(clip.skipped.values())
        manifest["error"] = clip.error
        manifest["elapsed_s"] = round(clip.elapsed_s, 2)
        mf.write_manifest(d, manifest)
        rows = sorted((d / PREVIEW_ROWS).glob("[0-9]*.png"))
        if rows:
            save_contact_sheet([np.asarray(Image.open(p).convert("RGB")) for p in rows], d / "preview.png")

    def cancel(self) -> None:
        """Stop every clip's remaining work (what is finished stays)."""
        for clip in self.clips.values():
            if not clip.done:
                self.pool.cancel(clip.name)
                clip.error = clip.error or "cancelled"

    def close(self) -> None:
        """Write every clip's manifest and preview, drop the preview rows, write OUT/summary.json."""
        for clip in self.clips.values():
            if clip.name in self._started and not clip.elapsed_s:
                clip.elapsed_s = time.perf_counter() - self._started[clip.name]
            self._write(clip)
            shutil.rmtree(self.out / clip.name / PREVIEW_ROWS, ignore_errors=True)
        rows = summary_rows(list(self.clips.values()))
        (self.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


def _reason_kind(reason: str | None) -> str:
    """A skip reason without its frame numbers (`no face detected; holding the view of frame N`)."""
    return re.sub(r"\d+", "N", reason or "unknown")


def summary_rows(clips: list[Clip]) -> list[dict]:
    """One plain dict per clip: name, video, frames, ok, held, skipped, skip reasons with counts, shots (and
    how many show the reference person), error."""
    rows = []
    for c in clips:
        reasons = Counter(_reason_kind(sk["reason"]) for sk in c.skipped.values())
        shots = mf.shots(list(c.frames.values()), list(c.skipped.values()))
        rows.append(
            {
                "clip": c.name,
                "video": str(c.video),
                "frames": c.frames_done,
                "frames_total": c.frames_total,
                "ok": len(c.frames) - c.held,
                "held": c.held,
                "skipped": len(c.skipped),
                "skip_reasons": dict(reasons.most_common()),
                "shots": len(shots),
                "shots_with_reference": sum(sh["reference"] for sh in shots),
                "error": c.error,
                "kept": c.kept,
                "seconds": round(c.elapsed_s, 1),
            }
        )
    return rows


def summary_table(clips: list[Clip]) -> str:
    """The end-of-batch table (one line per clip) as text."""
    rows = summary_rows(clips)
    head = ("clip", "frames", "ok", "held", "skipped", "shots (reference in)", "skipped because", "error")
    lines = []
    for r in rows:
        why = "; ".join(f"{n}x {k}" for k, n in r["skip_reasons"].items()) or "-"
        total = r["frames_total"] if r["frames_total"] is not None else "?"
        lines.append(
            (r["clip"], f"{r['frames']}/{total}", str(r["ok"]), str(r["held"]), str(r["skipped"]),
             f"{r['shots']} ({r['shots_with_reference']})", why,
             r["error"] or ("- (kept from an earlier run)" if r["kept"] else "-"))
        )  # fmt: skip
    widths = [min(60, max(len(h), *(len(x[i]) for x in lines))) for i, h in enumerate(head[:-1])]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths), "-----")]
    out += [fmt.format(*(x[i][:60] for i in range(len(head) - 1)), x[-1]) for x in lines]
    return "\n".join(out)
