"""The person matte on a real portrait, and the clean plate from frames with a moving person."""

import numpy as np

from backend.eval.real_inputs import portraits
from backend.face.matte import CleanPlate, PersonMatte


def test_the_matte_covers_the_person_and_not_the_corners():
    photo = next(iter(portraits().values()))  # a real photograph shipped in an installed package
    with PersonMatte() as matte:
        m = matte(photo)
    h, w = m.shape
    assert m.shape == photo.shape[:2] and m.dtype == np.uint8
    assert m[h * 2 // 5 : h * 3 // 5, w * 2 // 5 : w * 3 // 5].mean() > 200  # the face in the middle
    assert m[: h // 10, : w // 10].mean() < 128 or m[: h // 10, -w // 10 :].mean() < 128  # a top corner is not


def test_the_clean_plate_is_the_background_behind_a_moving_person():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    plate = CleanPlate(keep=8)
    for t in range(30):  # a bright person walking left to right, never everywhere at once
        frame, matte = background.copy(), np.zeros((40, 60), np.uint8)
        x = 2 * t
        frame[5:35, x : x + 10] = 255
        matte[5:35, x : x + 10] = 255
        plate.add(frame, matte)
    assert len(plate.frames) <= 9  # bounded memory: every other frame dropped as it fills
    np.testing.assert_array_equal(plate.plate(rows=7), background)
