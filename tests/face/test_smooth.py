"""One Euro smoothing: removes jitter, follows real motion, forgets at a reset."""

import math

import numpy as np
import pytest

from backend.face.smooth import OneEuroFilter, ViewSmoother

FPS = 30.0


def noisy_step(n=120, step_at=60, height=1.0, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    clean = np.where(np.arange(n) >= step_at, height, 0.0)
    return clean, clean + rng.normal(0, noise, n)


def test_one_euro_reduces_jitter_and_follows_a_step():
    clean, noisy = noisy_step()
    f = OneEuroFilter(min_cutoff=1.5, beta=0.8)
    out = np.array([f([x], i / FPS)[0] for i, x in enumerate(noisy)])
    still_in, still_out = noisy[10:60], out[10:60]
    assert np.std(np.diff(still_out)) < 0.3 * np.std(np.diff(still_in))  # frame-to-frame jitter
    assert np.abs(out[75:] - 1.0).max() < 0.15  # within half a second of the step it is there
    assert out[61] > 0.2  # and it started moving at once


def test_reset_passes_the_next_sample_through():
    f = OneEuroFilter(1.0, 0.0)
    for i in range(10):
        f([0.0, 0.0], i / FPS)
    assert f([5.0, 5.0], 10 / FPS)[0] < 2.0
    f.reset()
    assert f([5.0, 5.0], 11 / FPS).tolist() == [5.0, 5.0]
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(0.0)


def test_view_smoother_on_a_noisy_pose_track():
    rng = np.random.default_rng(3)
    n = 90
    yaw = np.where(np.arange(n) >= 45, math.radians(30), 0.0)
    noisy_yaw = yaw + rng.normal(0, math.radians(1.0), n)
    centre = np.stack([300 + rng.normal(0, 2.0, n), 200 + rng.normal(0, 2.0, n)], -1)
    side = 150 * np.exp(rng.normal(0, 0.01, n))
    s = ViewSmoother()
    out = [s([noisy_yaw[i], 0.0, 0.0], centre[i], side[i], i / FPS) for i in range(n)]
    yaw_out = np.array([o[0][0] for o in out])
    centre_out = np.array([o[1] for o in out])
    side_out = np.array([o[2] for o in out])
    assert np.std(np.diff(yaw_out[5:45])) < 0.3 * np.std(np.diff(noisy_yaw[5:45]))
    assert np.abs(np.degrees(yaw_out[60:]) - 30).max() < 2.0
    assert np.std(np.diff(centre_out[5:], axis=0)) < 0.3 * np.std(np.diff(centre[5:], axis=0))
    assert np.std(np.diff(np.log(side_out[5:]))) < 0.3 * np.std(np.diff(np.log(side[5:])))


def test_angles_are_unwrapped_across_pi():
    s = ViewSmoother()
    out = [s([math.pi - 0.02 + 0.01 * i, 0.0, 0.0], [0.0, 0.0], 100.0, i / FPS)[0][0] for i in range(5)]
    assert np.all(np.abs(np.diff(out)) < 0.05)  # no spin back through zero
