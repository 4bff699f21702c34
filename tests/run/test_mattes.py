"""`--mattes`: a person matte per frame and a clean plate in the clip folder, indexed by the manifest."""

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from backend.synth import SAMPLE_CLIP_DIR


def test_reconstruct_writes_mattes_and_a_clean_plate(tmp_path):
    cmd = [sys.executable, "-m", "backend", "reconstruct", str(SAMPLE_CLIP_DIR / "video.mp4"), "--ref",
           str(SAMPLE_CLIP_DIR / "reference.png"), "-o", str(tmp_path), "--frames", "0:3", "--mesh-res", "32",
           "--texture-size", "64", "--mattes"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entries = manifest["frames"] + manifest["skipped"]
    assert sorted(e["index"] for e in entries) == [0, 1, 2] and manifest["clean_plate"] == "clean_plate.png"
    plate = np.asarray(Image.open(tmp_path / "clean_plate.png"))
    for e in entries:
        matte = np.asarray(Image.open(tmp_path / e["matte"]))
        assert matte.shape == plate.shape[:2] == (manifest["source"]["height"], manifest["source"]["width"])
        h, w = matte.shape
        assert matte[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean() > 128  # the synthetic head is a person too
    assert manifest["options"]["mattes"] is True
