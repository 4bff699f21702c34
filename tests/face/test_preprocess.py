"""The step-1 entry point on real images and real files: crops, cameras, two faces, no faces."""

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from backend.face import FaceConfig, FacePreprocessor, NoFaceError
from backend.face.detect import FaceDetector
from backend.video import Frame, iter_frames, write_video

from .conftest import noise_image, shifted


def in_crop(result, idx):
    """Landmarks `idx` mapped into the crop, `[K, 2]` pixels."""
    pts = np.c_[result.landmarks[idx, :2], np.ones(len(idx))]
    return (pts @ result.crop_matrix.T)[:, :2]


def test_astronaut_crop_is_centred_and_frontal(astronaut):
    with FacePreprocessor(astronaut, FaceConfig(crop_size=128)) as pre:
        ref = pre.reference_result
        (result,) = pre.process([astronaut])
    for r in (ref, result):
        assert r.status == "ok" and r.reason is None
        assert r.crop.shape == (128, 128, 3) and r.crop.dtype == np.uint8
        assert r.cam2world.shape == (4, 4) and r.intrinsics[0, 0] == pytest.approx(4.2647)
        assert r.landmarks.shape == (478, 3) and r.source_intrinsics.shape == (3, 3)
        assert max(abs(math.degrees(a)) for a in (r.yaw, r.pitch, r.roll)) < 10  # roughly frontal
        nose, eyes, mouth = in_crop(r, [1])[0], in_crop(r, [33, 133, 263, 362]).mean(0), in_crop(r, [13, 14]).mean(0)
        assert abs(nose[0] - 64) < 10 and abs(eyes[0] - 64) < 10  # centred on her face
        assert 20 < eyes[1] < 64 < mouth[1] < 110  # eyes above the centre, mouth below, all inside
        eye_dist = np.linalg.norm(in_crop(r, [263, 362]).mean(0) - in_crop(r, [33, 133]).mean(0))
        assert 0.2 * 128 < eye_dist < 0.4 * 128  # the canonical scale: 0.17 box units at radius 2.7
    assert np.allclose(result.cam2world, ref.cam2world, atol=1e-4)  # the same image gives the same camera


def test_tracking_a_moving_face_keeps_it_aligned(tmp_path, astronaut):
    path = tmp_path / "moving.mp4"
    moves = [(8.0 * i, 2.0 * i, 1.0 * i) for i in range(10)]
    write_video(path, (shifted(astronaut, dx, dy, angle) for dx, dy, angle in moves), fps=25)
    with FacePreprocessor(astronaut, FaceConfig(crop_size=128)) as pre:
        results = list(pre.process(iter_frames(path)))
    assert [r.index for r in results] == list(range(10)) and all(r.status == "ok" for r in results)
    eyes = np.array([in_crop(r, [33, 133, 263, 362]).mean(0) for r in results])
    source_eyes = np.array([r.landmarks[[33, 133, 263, 362], :2].mean(0) for r in results])
    assert np.ptp(source_eyes[:, 0]) > 30  # the face moves in the frame...
    assert np.ptp(eyes[:, 0]) < 6 and np.ptp(eyes[:, 1]) < 6  # ...but stays put in the crop (smoothing lags a little)
    rolls = np.degrees([r.roll for r in results])
    assert rolls[-1] - rolls[0] == pytest.approx(9.0, abs=3.0) or rolls[0] - rolls[-1] == pytest.approx(9.0, abs=3.0)


def test_two_faces_the_chosen_one_stays_chosen(astronaut):
    head = astronaut[20:260, 100:340]  # her head and shoulders

    def scene(step):
        canvas = np.full((480, 960, 3), 120, np.uint8)
        canvas[130:350, 420:640] = cv2.resize(head, (220, 220))  # the chosen face: central, still
        size = 120 + 10 * step  # the other face moves up and grows larger than the chosen one
        y, x = 460 - size - 5 * step, 20 + 3 * step
        canvas[y : y + size, x : x + size] = cv2.resize(head, (size, size))
        return canvas

    with FaceDetector() as detector:
        last = sorted(detector.detect(scene(16)), key=lambda b: b.centre[0])
    assert len(last) == 2 and last[0].size > last[1].size  # by the end the other face is the larger one
    with FacePreprocessor(astronaut, FaceConfig(crop_size=64)) as pre:
        results = list(pre.process(scene(i) for i in range(18)))
    assert all(r.status == "ok" for r in results)
    centres = np.array([(r.box[:2] + r.box[2:]) / 2 for r in results])
    assert np.all(np.abs(centres - last[1].centre) < 20)


def covered_face(image: np.ndarray) -> np.ndarray:
    """The astronaut with a hand-sized grey patch over her face (a brief occlusion, not a cut)."""
    out = image.copy()
    out[70:200, 160:290] = 110
    return out


def test_no_face_policy_hold_then_skip(astronaut):
    frames = [astronaut, covered_face(astronaut), covered_face(astronaut), astronaut]
    with FacePreprocessor(astronaut, FaceConfig(crop_size=64, no_face="hold", hold_max_frames=1)) as pre:
        held = list(pre.process(frames))
    assert [r.status for r in held] == ["ok", "held", "skipped", "ok"]
    assert held[1].crop.shape == (64, 64, 3) and np.allclose(held[1].cam2world, held[0].cam2world)
    assert "no face" in held[1].reason and "frame 0" in held[1].reason
    assert "no face" in held[2].reason and held[2].crop is None and held[2].cam2world is None
    with FacePreprocessor(astronaut, FaceConfig(crop_size=64, no_face="skip")) as pre:
        skipped = list(pre.process(Frame(i, f) for i, f in enumerate(frames)))
        bad = list(pre.process([Frame(7, None, "clip.mp4: frame 7: cannot decode")]))
    assert [(r.index, r.status) for r in skipped] == [(0, "ok"), (1, "skipped"), (2, "skipped"), (3, "ok")]
    assert all(r.reason.startswith("no face detected") for r in skipped[1:3])
    assert bad[0].index == 7 and bad[0].status == "skipped" and "frame 7" in bad[0].reason
    with pytest.raises(ValueError, match="no_face"):
        FaceConfig(no_face="crash")


def test_reference_without_a_face_names_the_file(tmp_path):
    path = tmp_path / "empty_room.png"
    Image.fromarray(noise_image(5)).save(path)
    with pytest.raises(NoFaceError, match="empty_room.png"):
        FacePreprocessor(path)
