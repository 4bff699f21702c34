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
    before, after = results[covered[0].index - 1], results[covered[-1].index + 1]
    for r in covered:  # offline: the held views lie between the frames on both sides
        assert "interpolated towards frame" in r.reason
        lo, hi = sorted((before.view.centre[0], after.view.centre[0]))
        assert lo - 1e-6 <= r.view.centre[0] <= hi + 1e-6
    assert [r.index for r in results if r.cut] == [first for first, _, _ in clip.shots]
    for first, _, _ in clip.shots[1:]:
        assert results[first].status != "held"


def test_skip_reasons_say_which_case_they_are(tracked):
    from backend.face.preprocess import skip_kind

    clip, results = tracked
    kinds = {skip_kind(r.reason) for r, who in zip(results, clip.who, strict=True) if who == "other"}
    assert kinds <= {"another person", "shot cut"} and "another person" in kinds
    assert results[clip.shots[1][0]].reason.startswith("shot cut: another person")
    assert skip_kind("no face detected") == "no face" and skip_kind("clip.mp4: frame 3: cannot decode") == "other"
