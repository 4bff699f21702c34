"""Streaming video decode: one frame at a time, never a whole clip in memory.

Inputs: video containers (mp4, mov, avi, mkv, webm, m4v through OpenCV/FFmpeg), animated GIF
(PIL, frame by frame), single images, and image sequences: a folder of images (sorted naturally,
`img2` before `img10`) or a printf pattern such as `frames/%04d.png`. Every frame comes out as RGB
uint8 `[H, W, 3]` with its index in the source (for a sequence: its position in the sorted list).

A frame that cannot be decoded is yielded as a `Frame` with `image=None` and an `error` that names
it, and the clip goes on. A path that is not a video at all fails at once, in `open_video`, with
an error naming the file and what was expected.
"""

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.native_logs import native_stderr_silenced

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
GIF_EXTENSIONS = (".gif",)
_MAX_CONSECUTIVE_VIDEO_ERRORS = 25


class VideoError(ValueError):
    """A path that cannot be read as a video, image or image sequence."""


@dataclass
class VideoInfo:
    """What is known about a source before decoding it."""

    path: str
    """The path as given."""
    kind: str
    """`video`, `gif`, `image` or `sequence`."""
    fps: float | None
    """Frames per second, None when the source does not say (images, sequences)."""
    frame_count: int | None
    """Number of frames, None when the container does not say."""
    width: int | None
    """Frame width in pixels (of the first frame)."""
    height: int | None
    """Frame height in pixels (of the first frame)."""


@dataclass
class Frame:
    """One decoded frame, or the record of one that could not be decoded."""

    index: int
    """Index of the frame in the source (0-based)."""
    image: np.ndarray | None
    """RGB uint8 `[H, W, 3]`; None when the frame could not be decoded."""
    error: str | None = None
    """Why the frame could not be decoded (None when `image` is set)."""

    @property
    def ok(self) -> bool:
        """True when the frame decoded."""
        return self.image is not None


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL image (palette, grey, alpha, 16-bit) -> RGB uint8 `[H, W, 3]`."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        grey = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file as RGB uint8 `[H, W, 3]` (EXIF orientation applied).

    Raises FileNotFoundError for a missing file and VideoError for a file that is not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            return _pil_to_rgb(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise VideoError(f"{path}: not a readable image ({exc})") from exc


def _sequence_files(path: str) -> list[Path]:
    """Files of an image sequence: a folder (natural order) or a printf pattern like `dir/%04d.png`."""
    if "%" in path:
        folder, pattern = os.path.split(path)
        folder_path = Path(folder or ".")
        if not folder_path.is_dir():
            raise FileNotFoundError(f"image sequence folder not found: {folder_path} (from pattern {path})")
        match = re.fullmatch(r"(.*?)%(0?)(\d*)d(.*)", pattern)
        if match is None:
            raise VideoError(f"{path}: a printf pattern must contain one %d, e.g. frames/%04d.png")
        head, zero, width, tail = match.groups()
        digits = rf"\d{{{width}}}" if zero and width else r"\d+"
        regex = re.compile(re.escape(head) + f"({digits})" + re.escape(tail) + r"\Z")
        numbered = []
        for entry in folder_path.iterdir():
            found = regex.match(entry.name)
            if found and entry.is_file():
                numbered.append((int(found.group(1)), entry))
        numbered.sort()
        files = [entry for _, entry in numbered]
        if not files:
            raise VideoError(f"{path}: no files match this pattern")
        return files
    folder_path = Path(path)
    files = [p for p in folder_path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise VideoError(f"{path}: folder holds no images (expected {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(files, key=lambda p: _natural_key(p.name))


class VideoReader:
    """An opened source: `info` now, frames on demand through `frames()`.

    Opening checks the source at once (exists, is a video / image / sequence, first frame readable
    for containers) and raises FileNotFoundError or VideoError with the file's name otherwise.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._files: list[Path] | None = None
        if "%" in self.path or Path(self.path).is_dir():
            self._files = _sequence_files(self.path)
            width = height = None
            try:
                with Image.open(self._files[0]) as img:
                    width, height = img.size
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                pass  # the first file is corrupt: its frame reports that when it is decoded
            self.info = VideoInfo(self.path, "sequence", None, len(self._files), width, height)
            return
        p = Path(self.path)
        if not p.exists():
            raise FileNotFoundError(f"video not found: {p}")
        if not p.is_file():
            raise VideoError(f"{p}: not a file, folder or printf pattern")
        if p.stat().st_size == 0:
            raise VideoError(f"{p}: the file is empty (0 bytes; expected a video or an image)")
        suffix = p.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            self.info = self._open_container(p)
            return
        try:
            with Image.open(p) as img:
                n_frames = int(getattr(img, "n_frames", 1))
                width, height = img.size
                duration = img.info.get("duration")
                animated = n_frames > 1 or suffix in GIF_EXTENSIONS
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            self.info = self._open_container(p)
            return
        if animated:
            fps = 1000.0 / duration if duration else None
            self.info = VideoInfo(self.path, "gif", fps, n_frames, width, height)
        else:
            self.info = VideoInfo(self.path, "image", None, 1, width, height)

    def _open_container(self, p: Path) -> VideoInfo:
        with native_stderr_silenced():  # FFmpeg's own complaint; ours below says what to give instead
            cap = cv2.VideoCapture(str(p))
        try:
            ok = cap.isOpened()
            frame = cap.read()[1] if ok else None
            if frame is None:
                damaged = "; truncated or damaged?" if p.suffix.lower() in VIDEO_EXTENSIONS else ""
                raise VideoError(
                    f"{p}: not a readable video or image{damaged} (expected a video container "
                    f"{', '.join(VIDEO_EXTENSIONS)}, an animated GIF, an image, a folder of images "
                    "or a printf pattern)"
                )
            fps = cap.get(cv2.CAP_PROP_FPS)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        return VideoInfo(
            self.path,
            "video",
            fps if fps > 0 else None,
            count if count > 0 else None,
            frame.shape[1],
            frame.shape[0],
        )

    def frames(self, start: int = 0, stop: int | None = None, stride: int = 1) -> Iterator[Frame]:
        """Yield `Frame`s for source indices `start, start + stride, ...` below `stop` (None: to the end).

        A generator: each frame is decoded when it is asked for and nothing is kept.
        """
        if start < 0 or stride < 1 or (stop is not None and stop < start):
            raise ValueError(
                f"bad frame range start={start} stop={stop} stride={stride}: need 0 <= start <= stop, stride >= 1"
            )
        kind = self.info.kind
        if kind == "video":
            return self._video_frames(start, stop, stride)
        if kind == "gif":
            return self._gif_frames(start, stop, stride)
        if kind == "image":
            return self._image_frames(start, stop)
        return self._sequence_frames(start, stop, stride)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def _image_frames(self, start: int, stop: int | None) -> Iterator[Frame]:
        if start == 0 and (stop is None or stop > 0):
            try:
                yield Frame(0, read_image(self.path))
            except VideoError as exc:
                yield Frame(0, None, str(exc))

    def _sequence_frames(self, start: int, stop: int | None, stride: int) -> Iterator[Frame]:
        assert self._files is not None
        end = len(self._files) if stop is None else min(stop, len(self._files))
        for index in range(start, end, stride):
            try:
                yield Frame(index, read_image(self._files[index]))
            except (VideoError, FileNotFoundError) as exc:
                yield Frame(index, None, f"frame {index}: {exc}")

    def _gif_frames(self, start: int, stop: int | None, stride: int) -> Iterator[Frame]:
        with Image.open(self.path) as img:
            count = int(getattr(img, "n_frames", 1))
            end = count if stop is None else min(stop, count)
            for index in range(start, end, stride):
                try:
                    img.seek(index)
                    yield Frame(index, _pil_to_rgb(img))
                except (OSError, EOFError, ValueError, SyntaxError) as exc:
                    yield Frame(index, None, f"{self.path}: frame {index}: cannot decode ({exc})")

    def _video_frames(self, start: int, stop: int | None, stride: int) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.path)
        count = self.info.frame_count
        end = stop if count is None else (count if stop is None else min(stop, count))
        index, failures = 0, 0
        try:
            while end is None or index < end:
                wanted = index >= start and (index - start) % stride == 0
                ok = cap.grab()
                frame = cap.retrieve()[1] if ok and wanted else None
                if ok and (frame is not None or not wanted):
                    failures = 0
                    if wanted:
                        yield Frame(index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                else:
                    if count is None:
                        return
                    failures += 1
                    if failures > _MAX_CONSECUTIVE_VIDEO_ERRORS:
                        for rest in range(index, end):
                            if rest >= start and (rest - start) % stride == 0:
                                yield Frame(rest, None, f"{self.path}: frame {rest}: stream ended early")
                        return
                    if wanted:
                        yield Frame(index, None, f"{self.path}: frame {index}: cannot decode")
                index += 1
        finally:
            cap.release()


def open_video(path: str | Path) -> VideoReader:
    """Open a video, GIF, image, image folder or printf pattern; checks it at once (see VideoReader)."""
    return VideoReader(path)


def iter_frames(path: str | Path, start: int = 0, stop: int | None = None, stride: int = 1) -> Iterator[Frame]:
    """Open `path` now (errors raise here) and return a generator of `Frame`s over [start, stop) by stride."""
    return open_video(path).frames(start, stop, stride)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write RGB uint8 frames `[H, W, 3]` (all one size) to a video file (OpenCV, 'mp4v'); returns the count."""
    path = Path(path)
    writer = None
    count = 0
    try:
        for frame in frames:
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"{path}: frame {count} must be RGB uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
                if not writer.isOpened():
                    raise VideoError(f"{path}: cannot open a video writer (mp4v) for this path")
            elif frame.shape[:2] != (height, width):
                raise ValueError(
                    f"{path}: frame {count} is {frame.shape[1]}x{frame.shape[0]}, expected {width}x{height}"
                )
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise ValueError(f"{path}: no frames to write")
    return count
