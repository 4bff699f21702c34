"""`manifest.json`, the index of a clip's output folder: one declaration of its format, written by
`headfuse reconstruct` (`sinks.FolderSink`) and by each clip of `headfuse batch`.

    {"headfuse": version, "video", "reference", "mode", "units": "metres", "up": "+y",
     "camera_axes": "OpenCV (x right, y down, z forward)", "mesh": {"resolution", "texture", "texture_size"},
     "options": {every job option}, "source": {"fps", "width", "height"},
     "frames": [{"index", "status", "reason", "cut", "files": {fmt: path}, "vertices", "faces", "camera",
                 "texture", "matte", "timings_ms"}, ...],  # source order, frames with a mesh
     "skipped": [{"index", "reason", "cut", "matte"}, ...],
     "clean_plate": "clean_plate.png",                   # with the option mattes (and `matte` above)
     "clip_texture": "clip_texture.png",                 # with texture_span clip: the whole clip's texture
     "shots": [{"first", "last", "reference", "frames"}, ...],  # from the cuts: source indices, whether the
                                                              # reference person is seen (a frame ok) in it
     "elapsed_s", ...}

It is rewritten after every frame, so a cancelled or failed run leaves a valid manifest of what is on
disk. A run into a folder whose manifest already lists frames leaves that manifest alone until it has a
frame of its own, and then keeps it as `manifest.prev.json` (`PREVIOUS`). A batch adds `chunks`,
`batch_settings` and `error`.
"""

import json
from pathlib import Path

from backend.files import atomic_write
from headfuse_wire.options import ReconstructConfig

NAME = "manifest.json"
"""The manifest's file name in a clip's folder."""
MATTES_DIR = "mattes"
"""With the option `mattes`: each frame's person matte, `mattes/matte_NNNNNN.png` (NNNNNN: source frame)."""
CLEAN_PLATE = "clean_plate.png"
"""With the option `mattes`: the clean background plate."""
CLIP_TEXTURE = "clip_texture.png"
"""With `texture_span` clip: the texture fused over the whole clip (in the tracked template's UVs)."""
PREVIOUS = "manifest.prev.json"
"""Where the manifest of the run before goes once a new run into the folder has a frame."""


def lists_frames(folder: Path) -> bool:
    """Whether `folder` holds a manifest that indexes at least one frame (a run worth keeping)."""
    try:
        return bool(json.loads((Path(folder) / NAME).read_text()).get("frames"))
    except (OSError, ValueError, AttributeError):
        return False


def keep_previous(folder: Path) -> None:
    """Move the folder's manifest to `PREVIOUS` (replacing an older one)."""
    (Path(folder) / NAME).replace(Path(folder) / PREVIOUS)


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


def matte_path(index: int) -> str:
    """The matte of source frame `index`, relative to the clip folder."""
    return f"{MATTES_DIR}/matte_{index:06d}.png"


def _matte(out) -> dict:
    return {"matte": matte_path(int(out.index))} if out.matte is not None else {}


def frame_entry(out, files: dict[str, str]) -> dict:
    """The manifest entry of a `pipeline.FrameOutput` with a mesh, whose files (format -> path relative to
    the folder) are `files`."""
    return {
        "index": int(out.index),
        "status": out.status,
        "reason": out.reason,
        "cut": bool(out.cut),
        "files": files,
        "vertices": int(out.mesh.vertices.shape[0]),
        "faces": int(out.mesh.faces.shape[0]),
        "camera": out.camera,
        "texture": out.texture,
        **({"fit": out.fit} if out.fit is not None else {}),
        **_matte(out),
        "timings_ms": {k: round(float(v), 1) for k, v in out.timings_ms.items()},
    }


def skipped_entry(out) -> dict:
    """The manifest entry of a frame without a mesh."""
    return {"index": int(out.index), "reason": out.reason, "cut": bool(out.cut), **_matte(out)}


def shots(frames: list[dict], skipped: list[dict]) -> list[dict]:
    """The shots of a clip from its entries (with a mesh and skipped): a shot starts at every entry with
    `cut` true (and at the first); `reference` says whether the reference person was seen in it (a frame
    `ok`), `frames` how many frames it has."""
    out: list[dict] = []
    for entry in sorted([*frames, *skipped], key=lambda e: e["index"]):
        if not out or entry.get("cut"):
            out.append({"first": entry["index"], "last": entry["index"], "reference": False, "frames": 0})
        shot = out[-1]
        shot["last"], shot["frames"] = entry["index"], shot["frames"] + 1
        shot["reference"] |= entry.get("status") == "ok"
    return out


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write `folder/manifest.json` atomically, frames and skips in source order."""
    manifest = dict(manifest)
    manifest["frames"] = sorted(manifest["frames"], key=lambda f: f["index"])
    manifest["skipped"] = sorted(manifest["skipped"], key=lambda f: f["index"])
    manifest["shots"] = shots(manifest["frames"], manifest["skipped"])
    return atomic_write(Path(folder) / NAME, (json.dumps(manifest, indent=2) + "\n").encode())
