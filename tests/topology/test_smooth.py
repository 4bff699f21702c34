"""Smoothing tracked vertices over time: centred (no lag), within a shot, in order, holding few frames back."""

import numpy as np

from backend.topology.smooth import smooth_in_time


def _run(items, radius):
    return list(smooth_in_time(iter(items), lambda it: it["points"], lambda it: it["cut"],
                               lambda it, p: {**it, "points": p, "smoothed": True}, radius))  # fmt: skip


def _clip(values, cuts=(), skipped=()):
    points = [None if i in skipped else np.full((4, 3), v, np.float32) for i, v in enumerate(values)]
    return [{"i": i, "cut": i == 0 or i in cuts, "points": p} for i, p in enumerate(points)]


def test_a_steady_motion_comes_out_where_it_was_without_lag_and_jitter_is_damped():
    ramp = np.arange(12, dtype=np.float32)  # a head turning at constant speed
    out = _run(_clip(ramp), radius=2)
    assert [o["i"] for o in out] == list(range(12))
    np.testing.assert_allclose([o["points"][0, 0] for o in out][2:-2], ramp[2:-2], atol=1e-5)  # centred: no lag
    jitter = ramp + np.tile([0.3, -0.3], 6)
    smoothed = np.array([o["points"][0, 0] for o in _run(_clip(jitter), radius=2)])
    assert np.abs(smoothed - ramp)[2:-2].max() < 0.5 * 0.3


def test_shots_are_smoothed_apart_and_skipped_frames_pass_through_in_order():
    values = [0, 0, 0, 0, 10, 10, 10, 10]
    out = _run(_clip(values, cuts={4}, skipped={2}), radius=2)
    assert [o["i"] for o in out] == list(range(8))
    assert out[2]["points"] is None and "smoothed" not in out[2]
    got = [o["points"][0, 0] for o in out if o["points"] is not None]
    np.testing.assert_allclose(got, [0, 0, 0, 10, 10, 10, 10])  # nothing leaks across the cut


def test_items_come_out_radius_usable_frames_late_and_radius_zero_changes_nothing():
    fed = []

    def items():
        for it in _clip(range(6)):
            fed.append(it["i"])
            yield it

    out = smooth_in_time(items(), lambda it: it["points"], lambda it: it["cut"], lambda it, p: {**it, "points": p}, 2)
    assert next(out)["i"] == 0 and fed == [0, 1, 2]  # frame 0 waits for two frames after it, no more
    clip = _clip([1.0, 5.0, 2.0])
    assert [o["points"][0, 0] for o in _run(clip, radius=0)] == [1.0, 5.0, 2.0]
