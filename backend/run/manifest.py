"""`manifest.json`, the index of a clip's output folder: one declaration of its format, written by
`headfuse reconstruct` (`sinks.FolderSink`) and by each clip of `headfuse batch`.

    {"headfuse": version, "video", "reference", "mode", "units": "metres", "up": "+y",
     "camera_axes": "OpenCV (x right, y down, z forward)", "mesh": {"resolution", "texture", "texture_size"},
     "options": {every job option}, "source": {"fps", "width", "height"},
     "frames": [{"index", "status", "reason", "files": {fmt: path}, "vertices", "faces", "camera",
                 "texture", "timings_ms"}, ...],          # source order, frames with a mesh
     "skipped": [{"index", "reason"}, ...], "elapsed_s", ...}

It is rewritten after every frame, so a cancelled or failed run leaves a valid manifest of what is on
disk. A batch adds `chunks`, `batch_settings` and `error`.
"""

import json
from pathlib import Path

from backend.files import atomic_write
from headfuse_wire.options import ReconstructConfig

NAME = "manifest.json"
"""The manifest's file name in a clip's folder."""


def manifest_header(video: str, reference: str, cfg: ReconstructConfig, source: dict) -> dict:
    """The fields of a manifest that do not depend on the frames; `source`: the video's fps, width, height."""
    from backend import __version__

    return {
        "headfuse": __version__,
        "video": str(video),
        "reference": reference,
        "mode": cfg.mode,
        "units": "metres",
        "up": "+y",
        "camera_axes": "OpenCV (x right, y down, z forward)",
        "mesh": {"resolution": cfg.mesh_resolution, "texture": cfg.texture, "texture_size": cfg.texture_size},
        "options": cfg.to_wire(),
        "source": {k: source.get(k) for k in ("fps", "width", "height")},
        "frames": [],
        "skipped": [],
    }


def reference_label(reference: str | None, cfg: ReconstructConfig) -> str:
    """How the manifest names the reference: the image, or the frame of the video."""
    return str(reference) if cfg.reference_frame is None else f"frame {cfg.reference_frame} of the video"


def frame_entry(out, files: dict[str, str]) -> dict:
    """The manifest entry of a `pipeline.FrameOutput` with a mesh, whose files (format -> path relative to
    the folder) are `files`."""
    return {
        "index": int(out.index),
        "status": out.status,
        "reason": out.reason,
        "files": files,
        "vertices": int(out.mesh.vertices.shape[0]),
        "faces": int(out.mesh.faces.shape[0]),
        "camera": out.camera,
        "texture": out.texture,
        "timings_ms": {k: round(float(v), 1) for k, v in out.timings_ms.items()},
    }


def skipped_entry(out) -> dict:
    """The manifest entry of a frame without a mesh."""
    return {"index": int(out.index), "reason": out.reason}


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write `folder/manifest.json` atomically, frames and skips in source order."""
    manifest = dict(manifest)
    manifest["frames"] = sorted(manifest["frames"], key=lambda f: f["index"])
    manifest["skipped"] = sorted(manifest["skipped"], key=lambda f: f["index"])
    return atomic_write(Path(folder) / NAME, (json.dumps(manifest, indent=2) + "\n").encode())
