"""One texture for a tracked clip: texels fused over the frames by how well each frame saw them, and in the
clip folder as clip_texture.png."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from backend.synth import SAMPLE_CLIP_DIR
from backend.topology.clip_texture import FILL_WEIGHT, ClipTexture
from headfuse_wire.options import OptionError, ReconstructConfig


def test_each_texel_takes_the_frames_that_saw_it():
    clip = ClipTexture()
    left = np.zeros((4, 4), np.float32)
    left[:, :2] = 0.3  # frame 1 sees the left half a little, frame 2 the right half well
    grey = np.full((4, 4, 3), 0.5)
    clip.add(np.zeros((4, 4, 3), np.uint8), left, np.full((4, 4, 3), 0.2), grey)
    right = np.where(left > 0, 0.0, 0.9).astype(np.float32)
    fused = clip.add(np.zeros((4, 4, 3), np.uint8), right, np.full((4, 4, 3), 0.8), grey) / 255.0
    w = FILL_WEIGHT
    np.testing.assert_allclose(fused[0, 0], (0.3 * 0.2 + w * 0.5) / (0.3 + w), atol=1 / 255)  # what frame 1 saw
    np.testing.assert_allclose(fused[0, 3], (0.9 * 0.8 + w * 0.5) / (0.9 + w), atol=1 / 255)  # what frame 2 saw
    again = clip.add(np.full((8, 8, 3), 50, np.uint8))  # another size: a new fusion; the field's colour as it is
    assert (again == 50).all()


def test_the_clip_texture_needs_tracked_topology():
    with pytest.raises(OptionError, match="texture_span"):
        ReconstructConfig(topology="per-frame", texture_span="clip").validate()


def test_reconstruct_writes_the_clips_texture_and_indexes_it(tmp_path):
    cmd = [sys.executable, "-m", "backend", "reconstruct", str(SAMPLE_CLIP_DIR / "video.mp4"), "--ref",
           str(SAMPLE_CLIP_DIR / "reference.png"), "-o", str(tmp_path), "--frames", "0:4", "--mesh-res", "32",
           "--texture-size", "64", "--topology", "tracked", "--texture-span", "clip", "--formats", "glb"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["clip_texture"] == "clip_texture.png" and manifest["options"]["texture_span"] == "clip"
    texture = np.asarray(Image.open(tmp_path / "clip_texture.png"))
    assert texture.shape == (64, 64, 3) and texture.std() > 5  # a face's colours, not a flat fill
