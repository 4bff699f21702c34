"""A reference image of someone not in the video: one line naming both files, no mesh of the other person."""

import json

from PIL import Image

from backend.cli import main
from backend.eval.edited_clip import edited_clip


def test_a_reference_of_another_person_is_said_in_one_line_and_nothing_is_meshed(tmp_path, capsys):
    clip = edited_clip(frames_per_shot=4)
    video = tmp_path / "hopper_shot"
    video.mkdir()
    for k, frame in enumerate(f for f, w in zip(clip.frames, clip.who, strict=True) if w == "other"):
        Image.fromarray(frame).save(video / f"{k:03d}.png")
    reference = tmp_path / "astronaut.png"
    Image.fromarray(clip.reference).save(reference)
    code = main(["reconstruct", str(video), "--ref", str(reference), "-o", str(tmp_path / "out"),
                 "--mesh-res", "32", "--texture-size", "0", "--device", "cpu"])
    assert code == 1
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("reconstruct:")][-1]
    assert "astronaut.png is in no frame of" in line and "hopper_shot" in line and "another person" in line
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["frames"] == [] and len(manifest["skipped"]) == 4
    assert manifest["shots"] == [{"first": 0, "last": 3, "reference": False, "frames": 4}]
