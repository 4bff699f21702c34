"""Following the reference person through an edited clip of two real people (exact truth of who is where):
the other person is never taken, not even when larger and more central, the reference person is found
wherever she is, a brief occlusion is held within its shot, and no hold bridges a cut."""

import pytest

from backend.eval.edited_clip import edited_clip
from backend.face.config import FaceConfig
from backend.face.preprocess import FacePreprocessor


@pytest.fixture(scope="module")
def tracked():
    clip = edited_clip(frames_per_shot=8)
    with FacePreprocessor(clip.reference, FaceConfig(crop_size=64)) as pre:
        return clip, list(pre.process(clip.frames))


def test_the_reference_person_is_followed_and_the_other_is_never_taken(tracked):
    clip, results = tracked
    for r, who, x in zip(results, clip.who, clip.reference_x, strict=True):
        if who in ("reference", "both"):
            assert r.status == "ok", (r.index, who, r.reason)
            centre = 0.5 * (r.box[0] + r.box[2])
            assert abs(centre - x) < 60, (r.index, who, centre, x)  # her face, not the other one
        elif who == "other":
            assert r.status == "skipped" and "another person" in r.reason, (r.index, r.reason)


def test_a_brief_occlusion_is_held_and_no_hold_bridges_a_cut(tracked):
    clip, results = tracked
    covered = [r for r, who in zip(results, clip.who, strict=True) if who == "covered"]
    assert covered and all(r.status == "held" for r in covered)
    assert [r.index for r in results if r.cut] == [first for first, _, _ in clip.shots]
    for first, _, _ in clip.shots[1:]:
        assert results[first].status != "held"
