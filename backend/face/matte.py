"""The person in the plate and the plate without them: MediaPipe's selfie segmentation (it ships in the
mediapipe wheel) gives a matte per frame, and the temporal median of the pixels no matte covers gives a
clean background plate, for compositing a reconstructed head over the footage."""

import warnings
from pathlib import Path

import numpy as np

from backend.native_logs import native_stderr_silenced


class PersonMatte:
    """How much each pixel of a frame is the person (head, hair, body): `matte(image) -> [H, W] uint8`,
    0 background to 255 person. Keeps its MediaPipe graph alive; close it (or use `with`) when done."""

    def __init__(self, landscape: bool = True):
        import mediapipe as mp

        with native_stderr_silenced():  # its graph's start-up notices (see backend.native_logs)
            self._graph = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=int(landscape))
            self._graph.process(np.zeros((64, 64, 3), np.uint8))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The matte of an RGB uint8 frame `[H, W, 3]`: `[H, W]` uint8."""
        mask = self._graph.process(np.ascontiguousarray(image)).segmentation_mask  # [H, W] float32 in [0, 1]
        return (np.clip(mask, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

    def close(self) -> None:
        """Release the graph."""
        self._graph.close()

    def __enter__(self) -> "PersonMatte":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CleanPlate:
    """The background without the person: per pixel, the median over the kept frames where the matte says
    background (below `background_below`); where no kept frame shows the background, the median of all of
    them. Keeps at most `keep` frames spread over the clip (when full, every other one goes and the stride
    doubles), so memory is bounded whatever the clip's length."""

    def __init__(self, keep: int = 24, background_below: int = 64):
        self.keep, self.background_below = keep, background_below
        self.frames: list[np.ndarray] = []
        self.mattes: list[np.ndarray] = []
        self._stride, self._seen = 1, 0

    def add(self, image: np.ndarray, matte: np.ndarray) -> None:
        """One frame `[H, W, 3]` uint8 and its matte `[H, W]` uint8 (frames of another size are ignored)."""
        if self.frames and image.shape != self.frames[0].shape:
            return
        if self._seen % self._stride == 0:
            self.frames.append(image)
            self.mattes.append(matte)
            if len(self.frames) > self.keep:
                self.frames, self.mattes = self.frames[::2], self.mattes[::2]
                self._stride *= 2
        self._seen += 1

    def plate(self, rows: int = 64) -> np.ndarray | None:
        """The clean plate `[H, W, 3]` uint8 (None before any frame), computed `rows` image rows at a time."""
        if not self.frames:
            return None
        h = self.frames[0].shape[0]
        out = np.empty_like(self.frames[0])
        for y in range(0, h, rows):
            stack = np.stack([f[y : y + rows] for f in self.frames]).astype(np.float32)  # [K, r, W, 3]
            background = np.stack([m[y : y + rows] for m in self.mattes]) < self.background_below  # [K, r, W]
            masked = np.where(background[..., None], stack, np.nan)
            seen = background.any(0)[..., None]
            with warnings.catch_warnings():  # pixels no kept frame shows as background: taken from the plain median
                warnings.simplefilter("ignore", RuntimeWarning)
                median = np.where(seen, np.nanmedian(masked, axis=0), np.median(stack, axis=0))
            out[y : y + rows] = np.clip(median + 0.5, 0, 255).astype(np.uint8)
        return out


def clean_plate_of(video: str | Path, mattes: dict[int, Path], keep: int = 24) -> np.ndarray | None:
    """The clean plate `[H, W, 3]` uint8 of a clip from its stored mattes (source index -> grey PNG): the
    video's frames at up to `keep` of those indices, spread evenly, read once in order (a batch, whose chunks
    run apart, makes it when the clip is done). None without mattes."""
    from PIL import Image

    from backend.video import open_video

    if not mattes:
        return None
    indices = sorted(mattes)
    chosen = set(indices[:: max(1, -(-len(indices) // keep))])
    plate = CleanPlate(keep=len(chosen))
    for frame in open_video(video).frames(min(chosen), max(chosen) + 1):
        if frame.index in chosen and frame.ok:
            plate.add(frame.image, np.asarray(Image.open(mattes[frame.index]).convert("L")))
    return plate.plate()
