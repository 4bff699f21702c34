"""Ordinary mistakes on the command line end in one line naming the file or option and what was expected,
with a non-zero exit and no traceback; a failed re-run loses no earlier index. (Option values are in
`test_reconstruct_options.py`; the server's start-up in `tests/server/test_startup.py`.)"""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from backend.synth import SAMPLE_CLIP_DIR

VIDEO, REF = SAMPLE_CLIP_DIR / "video.mp4", SAMPLE_CLIP_DIR / "reference.png"
SMALL = ["--mesh-res", "32", "--texture-size", "64"]


def headfuse(*args, cwd=None) -> tuple[int, list[str], str]:
    """Run `headfuse ARGS`: (exit code, the stderr lines a terminal shows, stdout)."""
    proc = subprocess.run([sys.executable, "-m", "backend", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    shown = [line.rsplit("\r", 1)[-1] for line in proc.stderr.split("\n")]  # what is left after each \r
    return proc.returncode, [line for line in shown if line.strip()], proc.stdout


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """Broken inputs: an empty folder, a text file named .mp4, a zero-byte and a truncated video, a faceless
    image and a plain file in the way of an output folder."""
    d = tmp_path_factory.mktemp("bad")
    (d / "empty").mkdir()
    (d / "text.mp4").write_text("not a video\n")
    (d / "zero.mp4").write_bytes(b"")
    data = VIDEO.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(d / "grey.png")
    (d / "afile").write_text("x")
    return d


CASES = {
    "missing video": (["{d}/nope.mp4", "--ref", REF], "video not found: {d}/nope.mp4"),
    "empty folder": (["{d}/empty", "--ref", REF], "{d}/empty: folder holds no images"),
    "text named .mp4": (["{d}/text.mp4", "--ref", REF], "{d}/text.mp4: not a readable video or image"),
    "zero-byte video": (["{d}/zero.mp4", "--ref", REF], "{d}/zero.mp4: the file is empty (0 bytes"),
    "truncated video": (["{d}/truncated.mp4", "--ref", REF], "{d}/truncated.mp4: not a readable video"),
    "reference with no face": ([VIDEO, "--ref", "{d}/grey.png"], "{d}/grey.png: no face found in the reference"),
    "frames past the end": ([VIDEO, "--ref", REF, "--frames", "100:200"], "video.mp4 has 36 frames (0 to 35)"),
    "mesh-res -5": ([VIDEO, "--ref", REF, "--mesh-res", "-5"], "--mesh-res -5: expected a multiple of 4"),
    "mesh-res 0": ([VIDEO, "--ref", REF, "--mesh-res", "0"], "--mesh-res 0: expected a multiple of 4"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_is_one_line(bad, tmp_path, case):
    args, words = CASES[case]
    args = [str(a).replace("{d}", str(bad)) for a in args]
    code, lines, _ = headfuse("reconstruct", *SMALL, *args, "-o", tmp_path / "out")
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("reconstruct: ") and words.replace("{d}", str(bad)) in lines[0], lines[0]


@pytest.mark.parametrize("out", ["{d}/afile/sub", "/proc/headfuse-out"])
def test_an_output_folder_that_cannot_be_made_is_one_line(bad, out):
    out = out.replace("{d}", str(bad))
    code, lines, _ = headfuse("reconstruct", VIDEO, "--ref", REF, "-o", out, *SMALL)
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"reconstruct: output folder {out}: ") and "expected a folder" in lines[0], lines


def test_a_usage_mistake_is_one_line_with_exit_2(tmp_path):
    code, lines, _ = headfuse("reconstruct", VIDEO, "--ref", REF, "-o", tmp_path, "--texture", "-1")
    assert code == 2 and len(lines) == 1, lines
    assert "argument --texture: invalid choice: '-1'" in lines[0] and "projected" in lines[0], lines


@pytest.mark.parametrize("args, words", [
    (["--protocol", "planefit", "--heads", "0"], "eval: --heads must be at least 1, not 0"),
    (["--protocol", "lifters", "--heads", "-2"], "eval: --heads must be at least 1, not -2"),
    (["--protocol", "planefit", "--iters", "-3"], "eval: --iters must be at least 0, not -3"),
])
def test_an_evaluation_with_no_heads_or_steps_is_one_line(tmp_path, args, words):
    code, lines, _ = headfuse("eval", *args, "--heldout", tmp_path / "heldout", "--out", tmp_path / "r.json")
    assert code == 1 and lines == [words], lines
    assert not (tmp_path / "heldout").exists()  # refused before any work


def test_a_run_with_no_usable_frame_claims_no_preview(bad, tmp_path):
    code, lines, stdout = headfuse("reconstruct", bad / "grey.png", "--ref", REF, "-o", tmp_path, *SMALL)
    assert code == 1 and "no usable face in any of the 1 frames" in stdout and "preview.png" not in stdout
    assert not (tmp_path / "preview.png").exists()


def test_a_failed_rerun_keeps_the_finished_index_and_a_good_one_keeps_it_as_prev(bad, tmp_path):
    out = tmp_path / "out"
    code, _, stdout = headfuse("reconstruct", VIDEO, "--ref", REF, "-o", out, "--frames", "0:2", *SMALL)
    assert code == 0 and "manifest.json and preview.png" in stdout, stdout
    first = json.loads((out / "manifest.json").read_text())
    assert [f["index"] for f in first["frames"]] == [0, 1]
    code, lines, _ = headfuse("reconstruct", VIDEO, "--ref", bad / "grey.png", "-o", out, "--frames", "0:2", *SMALL)
    assert code == 1 and json.loads((out / "manifest.json").read_text()) == first  # untouched
    code, _, _ = headfuse("reconstruct", VIDEO, "--ref", REF, "-o", out, "--frames", "2:3", *SMALL)
    assert code == 0 and [f["index"] for f in json.loads((out / "manifest.json").read_text())["frames"]] == [2]
    assert json.loads((out / "manifest.prev.json").read_text()) == first
