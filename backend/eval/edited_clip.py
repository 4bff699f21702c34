"""An edited clip of two real people with exact truth of who is where, made from the packaged portraits
(dlib tells two synthetic heads apart too poorly for this: see `face.identity`'s ROC).

Shots (each a slow virtual-camera move over the photograph or composite):
1. the reference person (the astronaut) alone;
2. the other person (Grace Hopper) alone;
3. both in frame, the other person larger and more central (an over-the-shoulder framing);
4. the reference person again, in another part of the frame, with her face covered for a few frames
   (a hand across the face).
"""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from backend.eval.real_inputs import portraits, virtual_camera_clip

SIDE = (640, 360)
"""Frame size (width, height)."""


@dataclass
class EditedClip:
    """The frames and the truth of each."""

    frames: list[np.ndarray]
    """RGB uint8 `[360, 640, 3]`."""
    who: list[str]
    """Per frame: `reference`, `other`, `both` or `covered` (the reference person, her face hidden)."""
    shots: list[tuple[int, int, bool]]
    """(first, last, whether the reference person is in the shot)."""
    reference: np.ndarray
    """The reference image: the astronaut's portrait (another framing than the clip's)."""
    reference_x: list[float | None]
    """Per frame, the x of the reference person's face centre where she is in frame (pixels)."""


def _place(canvas: np.ndarray, photo: np.ndarray, height: int, x: int, y: int) -> tuple[float, float]:
    """Paste `photo` scaled to `height` with its top-left at (x, y); returns its centre's (x, scale)."""
    scale = height / photo.shape[0]
    small = cv2.resize(photo, (max(1, round(photo.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    canvas[y0:y1, x0:x1] = small[y0 - y : y1 - y, x0 - x : x1 - x]
    return x + w / 2, scale


def edited_clip(frames_per_shot: int = 10) -> EditedClip:
    """The four-shot clip (module docstring), `frames_per_shot` frames each."""
    photos = portraits()
    astronaut, hopper = photos["astronaut"], photos["grace_hopper"]
    n, (w, h) = frames_per_shot, SIDE
    frames, who, xs = [], [], []

    def solo(photo, label, x_offset, covered=()):
        for k, f in enumerate(virtual_camera_clip(photo, n, h)):
            canvas = np.full((h, w, 3), 70, np.uint8)
            canvas[:, x_offset : x_offset + h] = f
            if k in covered:  # a hand-sized patch over the face (the photos' faces sit in the upper middle)
                cx = x_offset + h // 2
                canvas[40:200, cx - 80 : cx + 40] = (205, 170, 150)
            frames.append(canvas)
            who.append("covered" if k in covered else label)
            xs.append(x_offset + h / 2 if label == "reference" else None)

    solo(astronaut, "reference", 40)
    solo(hopper, "other", 200)
    for k in range(n):
        canvas = np.full((h, w, 3), 90, np.uint8)
        _place(canvas, astronaut, 300, k, 60)  # the reference person: smaller, at the side
        _place(canvas, hopper, 360, 300 - 2 * k, 0)  # the other: larger, nearer the middle
        frames.append(canvas)
        who.append("both")
        xs.append(k + 150.0)
    solo(astronaut, "reference", w - h - 30, covered=range(n // 2 - 1, n // 2 + 1))
    labels = ("reference", "other", "both", "reference")
    shots = [(i * n, i * n + n - 1, label != "other") for i, label in enumerate(labels)]
    reference = cv2.resize(astronaut[40:300, 120:380], (256, 256), interpolation=cv2.INTER_AREA)
    return EditedClip(frames, who, shots, reference, xs)


def evaluate_edited(folder: Path, frames_per_shot: int = 10, lifter=None) -> dict:
    """Reconstruct the edited clip (written as PNGs under `folder`) against its reference (per-frame mode,
    mesh 64, no texture: who is meshed is what counts) and count, per truth label, the frames meshed, held
    and skipped; held frames right after a cut; and the identity check's mean milliseconds per frame."""
    from PIL import Image

    from backend.pipeline import reconstruct_clip
    from headfuse_wire.options import ReconstructConfig

    clip = edited_clip(frames_per_shot)
    video = Path(folder) / "frames"
    video.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(video / f"{i:04d}.png")
    Image.fromarray(clip.reference).save(Path(folder) / "reference.png")
    cfg = ReconstructConfig(mode="per-frame", mesh_resolution=64, texture_size=0, device="cpu")
    outs = list(reconstruct_clip(video, Path(folder) / "reference.png", cfg, lifter=lifter))
    counts: dict[str, dict[str, int]] = {}
    for out, who in zip(outs, clip.who, strict=True):
        c = counts.setdefault(who, {"frames": 0, "meshed": 0, "held": 0, "skipped": 0})
        c["frames"] += 1
        c["meshed"] += out.mesh is not None
        c["held"] += out.status == "held"
        c["skipped"] += out.status == "skipped"
    reference_frames = sum(counts[k]["frames"] for k in ("reference", "both", "covered") if k in counts)
    reference_meshed = sum(counts[k]["meshed"] for k in ("reference", "both", "covered") if k in counts)
    cuts = [first for first, _, _ in clip.shots[1:]]
    return {
        "frames_per_shot": frames_per_shot,
        "by_truth": counts,
        "reference_meshed": round(reference_meshed / reference_frames, 4),
        "other_meshed": round(counts["other"]["meshed"] / counts["other"]["frames"], 4),
        "held_after_cut": sum(outs[i].status == "held" for i in cuts),
        "cuts_found": [o.index for o in outs if o.cut],
        "cuts_true": [first for first, _, _ in clip.shots],
        "identity_ms_mean": round(float(np.mean([o.timings_ms.get("identity", 0.0) for o in outs])), 2),
    }
