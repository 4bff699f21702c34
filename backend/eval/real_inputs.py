"""Real footage that ships with the project's own dependencies, for `headfuse eval --protocol real`:
portraits from scikit-image and matplotlib, the synthetic sample clip, and a clip made by moving a
virtual camera (a zoom, a pan and a roll) over a real photograph."""

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from backend.synth import SAMPLE_CLIP_DIR


def portraits() -> dict[str, np.ndarray]:
    """The packaged colour portraits, RGB uint8: scikit-image's astronaut and matplotlib's Grace Hopper."""
    import matplotlib
    from skimage import data

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return {"astronaut": data.astronaut(), "grace_hopper": np.asarray(Image.open(hopper).convert("RGB"))}


def virtual_camera_clip(photo: np.ndarray, frames: int = 24, side: int = 384) -> list[np.ndarray]:
    """`frames` RGB images `[side, side, 3]` of `photo` seen by a camera that zooms in by 25%, pans across
    a tenth of the frame and rolls by +-6 degrees (a smooth move, as a hand-held push-in)."""
    h, w = photo.shape[:2]
    base = side / (0.95 * min(h, w))
    out = []
    for t in np.linspace(0.0, 1.0, frames):
        zoom = base * (1.0 + 0.25 * t)
        roll = 6.0 * math.sin(2 * math.pi * t)
        cx = w / 2 + 0.05 * w * math.sin(math.pi * t)
        cy = h / 2 - 0.03 * h * t
        m = cv2.getRotationMatrix2D((cx, cy), roll, zoom)
        m[:, 2] += np.array([side / 2 - cx, side / 2 - cy])
        out.append(cv2.warpAffine(photo, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def write_real_inputs(folder: Path) -> list[tuple[str, Path, Path]]:
    """Write the inputs under `folder` -> `(name, video, reference)` for each: every portrait as a one-frame
    video against itself, the virtual-camera clip over Grace Hopper's portrait against the photograph,
    and the synthetic sample clip against its reference."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = []
    photos = portraits()
    for name, image in photos.items():
        path = folder / f"{name}.png"
        Image.fromarray(image).save(path)
        inputs.append((name, path, path))
    clip = folder / "grace_hopper_move"
    clip.mkdir(exist_ok=True)
    for i, frame in enumerate(virtual_camera_clip(photos["grace_hopper"])):
        Image.fromarray(frame).save(clip / f"{i:03d}.png")
    inputs.append(("grace_hopper_move", clip, folder / "grace_hopper.png"))
    inputs.append(("sample_clip", SAMPLE_CLIP_DIR / "video.mp4", SAMPLE_CLIP_DIR / "reference.png"))
    return inputs
