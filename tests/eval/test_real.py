"""The real-footage evaluation: its measures on known cases, the virtual-camera clip, and a short run on
the sample clip where projected textures must beat the field's colour at the plate camera."""

import math

import numpy as np
import pytest

from backend.eval.real import RealEvalConfig, evaluate_real, landmark_nme, masked_psnr_ssim, write_report
from backend.eval.real_inputs import virtual_camera_clip
from backend.models.weights import load_lifter
from backend.render.cameras import DEFAULT_PIVOT, orbit_camera, turn_camera
from backend.synth import SAMPLE_CLIP_DIR
from headfuse_wire.options import ReconstructConfig


def test_turning_the_frontal_camera_is_the_orbit_camera_at_that_yaw():
    front = orbit_camera(0.0)[0].numpy().astype(np.float64)
    for yaw in (-60.0, 30.0):
        np.testing.assert_allclose(turn_camera(front, yaw), orbit_camera(math.radians(yaw))[0].numpy(), atol=1e-5)
    pivot = np.r_[DEFAULT_PIVOT, 1.0]
    np.testing.assert_allclose(turn_camera(np.eye(4), 90.0) @ pivot, pivot, atol=1e-12)  # the pivot stays put


def test_nme_is_normalised_by_the_outer_eye_corners_and_masked_metrics_see_only_the_mask():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 100, (478, 3))
    truth[33, :2], truth[263, :2] = (10, 50), (60, 50)  # 50 px apart
    pred = truth.copy()
    pred[:, 0] += 5.0
    assert landmark_nme(pred, truth) == pytest.approx(0.1)
    plate = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    render = plate.copy()
    render[:, 16:] = 0
    mask = np.zeros((32, 32), bool)
    mask[:, :12] = True
    p, s = masked_psnr_ssim(render, plate, mask)
    assert p > 90 and s > 0.9
    assert masked_psnr_ssim(render, plate, ~mask)[0] < 10


def test_the_virtual_camera_moves_smoothly_over_the_photograph():
    photo = (np.random.default_rng(1).random((200, 160, 3)) * 255).astype(np.uint8)
    frames = virtual_camera_clip(photo, frames=6, side=96)
    assert len(frames) == 6 and all(f.shape == (96, 96, 3) for f in frames)
    steps = [np.abs(a.astype(float) - b).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert min(steps) > 1.0


@pytest.fixture(scope="module")
def lifter():
    return load_lifter()


def test_projected_textures_score_better_than_field_colour_at_the_plate_camera(lifter, tmp_path):
    cfg = RealEvalConfig(yaws=(-30.0, 30.0), frames=2, max_side=256, sheet_rows=2)
    reports = {}
    for texture in ("projected", "field"):
        job = ReconstructConfig(mode="per-frame", mesh_resolution=64, texture_size=256, texture=texture, device="cpu")
        reports[texture] = evaluate_real(SAMPLE_CLIP_DIR / "video.mp4", SAMPLE_CLIP_DIR / "reference.png", job, cfg,
                                         lifter=lifter, progress=False)
    s = reports["projected"]["summary"]
    assert s["frames"] == 2 and s["reconstructed"] == 2
    assert s["plate"]["found"] == 1.0 and s["plate"]["nme"] < 0.1
    assert s["plate"]["psnr"] > reports["field"]["summary"]["plate"]["psnr"] + 2.0
    assert set(s["yaw"]) == {"-30", "+30"} and s["flicker"]["ratio"] is not None
    js, md, png = write_report(reports["projected"], tmp_path / "real.json")
    assert js.exists() and png.exists() and "| plate camera | 100% |" in md.read_text()
