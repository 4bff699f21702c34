"""Shot cuts: a camera move over one photograph is one shot, a cut to another photograph starts the next."""

import numpy as np
from skimage import data

from backend.eval.real_inputs import virtual_camera_clip
from backend.face.shots import ShotDetector


def test_a_camera_move_is_one_shot_and_a_cut_starts_the_next():
    astronaut, coffee = data.astronaut(), data.coffee()
    frames = virtual_camera_clip(astronaut, 8, 160) + virtual_camera_clip(coffee, 6, 160)
    shots = ShotDetector()
    cuts = [i for i, f in enumerate(frames) if shots.update(f, 100 + i)]
    assert cuts == [0, 8]
    assert (shots.shot.number, shots.shot.first, shots.shot.last) == (1, 108, 113)


def test_a_hand_across_the_face_is_not_a_cut():
    frame = data.astronaut()
    covered = frame.copy()
    covered[70:200, 160:290] = 110
    shots = ShotDetector()
    assert [shots.update(f, i) for i, f in enumerate([frame, frame, covered, covered, frame])] == [
        True, False, False, False, False]  # fmt: skip
    shots.reset()
    assert shots.update(np.zeros_like(frame), 0) and shots.shot.number == 0
