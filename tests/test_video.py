"""Streaming decode of every supported source kind, written at test time."""

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from backend.video import (
    Frame,
    VideoError,
    iter_frames,
    open_video,
    read_image,
    write_video,
)

N_FRAMES = 12
SIZE = (48, 64)  # H, W


def make_frame(i: int) -> np.ndarray:
    """Frame i: grey level 20 * i (identifiable after lossy compression), a bright square as texture."""
    frame = np.full(SIZE + (3,), 20 * i, dtype=np.uint8)
    frame[8:16, 8:16] = 255
    return frame


def level(frame: Frame) -> float:
    """The grey level a decoded frame was written with (mean away from the square)."""
    assert frame.image is not None, frame.error
    return float(frame.image[24:, 24:].mean())


def decoded_index(frame: Frame) -> int:
    return int(round(level(frame) / 20.0))


@pytest.fixture
def sequence_dir(tmp_path):
    """A folder `seq/` of PNGs named img0.png .. img11.png (unpadded: natural sort matters)."""
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(N_FRAMES):
        Image.fromarray(make_frame(i)).save(folder / f"img{i}.png")
    return folder


@pytest.mark.parametrize("ext", ["mp4", "avi", "mkv", "mov"])
def test_containers_decode_all_frames(tmp_path, ext):
    path = tmp_path / f"clip.{ext}"
    assert write_video(path, (make_frame(i) for i in range(N_FRAMES)), fps=10) == N_FRAMES
    reader = open_video(path)
    assert reader.info.kind == "video"
    assert reader.info.fps == pytest.approx(10.0)
    assert reader.info.frame_count == N_FRAMES
    assert (reader.info.height, reader.info.width) == SIZE
    frames = list(reader.frames())
    assert [f.index for f in frames] == list(range(N_FRAMES))
    for f in frames:
        assert f.ok and f.image.dtype == np.uint8 and f.image.shape == SIZE + (3,)
        assert abs(level(f) - 20 * f.index) < 6


def test_container_range_and_stride(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, (make_frame(i) for i in range(N_FRAMES)), fps=25)
    frames = list(iter_frames(path, start=2, stop=10, stride=3))
    assert [f.index for f in frames] == [2, 5, 8]
    assert [decoded_index(f) for f in frames] == [2, 5, 8]


def test_animated_gif(tmp_path):
    path = tmp_path / "anim.gif"
    images = [Image.fromarray(make_frame(i)) for i in range(N_FRAMES)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    reader = open_video(path)
    assert reader.info.kind == "gif" and reader.info.frame_count == N_FRAMES
    assert reader.info.fps == pytest.approx(10.0)
    frames = list(reader.frames(1, None, 2))
    assert [f.index for f in frames] == list(range(1, N_FRAMES, 2))
    assert [decoded_index(f) for f in frames] == list(range(1, N_FRAMES, 2))


def test_folder_is_sorted_naturally(sequence_dir):
    reader = open_video(sequence_dir)
    assert reader.info.kind == "sequence" and reader.info.frame_count == N_FRAMES
    assert (reader.info.height, reader.info.width) == SIZE
    frames = list(reader.frames())
    assert [decoded_index(f) for f in frames] == list(range(N_FRAMES))  # img2 before img10


def test_printf_pattern(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(N_FRAMES):
        Image.fromarray(make_frame(i)).save(folder / f"{i + 1:04d}.png")
    (folder / "notes.txt").write_text("not a frame")
    frames = list(iter_frames(f"{folder}/%04d.png", start=3, stop=7))
    assert [f.index for f in frames] == [3, 4, 5, 6]
    assert [decoded_index(f) for f in frames] == [3, 4, 5, 6]
    with pytest.raises(VideoError, match="no files match"):
        open_video(f"{folder}/shot_%03d.jpg")


def test_single_image_and_its_modes(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16)).save(tmp_path / "deep.png")
    frames = list(iter_frames(tmp_path / "rgba.png"))
    assert len(frames) == 1 and frames[0].index == 0
    assert frames[0].image.shape == (20, 30, 3) and frames[0].image[0, 0].tolist() == [0, 200, 0]
    deep = read_image(tmp_path / "deep.png")
    assert deep.dtype == np.uint8 and deep.shape == (20, 30, 3) and deep.max() > 200


def test_corrupt_frame_is_reported_and_the_clip_goes_on(sequence_dir):
    (sequence_dir / "img5.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    frames = list(iter_frames(sequence_dir))
    assert [f.index for f in frames] == list(range(N_FRAMES))
    bad = [f for f in frames if not f.ok]
    assert len(bad) == 1 and bad[0].index == 5 and bad[0].image is None
    assert "img5.png" in bad[0].error and "frame 5" in bad[0].error
    assert [decoded_index(f) for f in frames if f.ok] == [i for i in range(N_FRAMES) if i != 5]


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt", "notes.gif"])
def test_not_a_video_fails_at_once(tmp_path, name):
    path = tmp_path / name
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError) as err:
        iter_frames(path)  # raises when called, before any frame is asked for
    assert name in str(err.value) and "expected" in str(err.value)


def test_missing_inputs_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.mp4"):
        open_video(tmp_path / "nothing.mp4")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        open_video(tmp_path / "nowhere" / "%04d.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no images"):
        open_video(tmp_path / "empty")


def test_sequence_is_read_lazily(sequence_dir):
    frames = iter_frames(sequence_dir)
    first = next(frames)
    assert decoded_index(first) == 0
    Image.fromarray(make_frame(9)).save(sequence_dir / "img3.png")  # changed after decoding began
    rest = list(frames)
    assert decoded_index(rest[2]) == 9


def test_container_streams_in_constant_memory(tmp_path):
    path = tmp_path / "long.mp4"
    h, w = 120, 160
    write_video(path, (np.full((h, w, 3), (7 * i) % 255, np.uint8) for i in range(150)), fps=30)
    tracemalloc.start()
    count = sum(1 for _ in iter_frames(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 150
    assert peak < 10 * h * w * 3  # a handful of frames, never the clip (150 frames)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "never.mp4", [np.zeros((8, 8, 3), np.float32)], fps=5)
