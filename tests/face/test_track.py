"""Choosing the face to follow and following it."""

from backend.face.track import FaceBox, FaceTracker, primary_face


def box(cx, cy, size):
    return FaceBox(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)


def test_primary_face_prefers_large_then_central():
    assert primary_face([box(100, 100, 60), box(320, 240, 120)], 640, 480) == 1
    assert primary_face([box(320, 240, 80), box(40, 40, 90)], 640, 480) == 0  # slightly larger but in a corner
    assert primary_face([], 640, 480) is None


def test_tracker_follows_its_face_not_a_larger_newcomer():
    tracker = FaceTracker(min_iou=0.2, max_lost=3)
    chosen = tracker.match([box(200, 240, 100), box(500, 240, 60)], 640, 480)
    tracker.update(chosen)
    for step in range(1, 15):
        ours = box(200 + 4 * step, 240, 100)
        other = box(500 - 10 * step, 240, 60 + 10 * step)  # grows larger and comes closer
        got = tracker.match([other, ours], 640, 480)
        assert got is ours
        tracker.update(got)


def test_tracker_gives_up_after_max_lost():
    tracker = FaceTracker(max_lost=2)
    tracker.update(box(100, 100, 50))
    far = box(500, 400, 80)
    for _ in range(3):
        assert tracker.match([far], 640, 480) is None
        tracker.miss()
    assert tracker.box is None and tracker.match([far], 640, 480) is far
