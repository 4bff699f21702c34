import shutil

import numpy as np
import pytest
import torch

from backend.checkpoint import load_checkpoint
from backend.models.weights import default_lifter_path, load_lifter
from backend.render.cameras import DEFAULT_PIVOT
from backend.train.encoder_stage import EncoderTrainConfig, train_encoder
from backend.train.sample_cache import SampleCache, build_cache, failure_path, read_failures, sample_path


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    return build_cache(root, 3, seed=11, image_size=128, view_res=32, points=512, progress=False, tracked=True)


def test_tracked_sample_is_what_the_preprocessor_gives_and_its_truth_agrees(tracked):
    assert not read_failures(tracked)
    data = SampleCache(tracked)
    b = data.batch(0, 2, 64, 2, 32, seed=0)
    assert b["geometry"].shape == (2, 8, 128, 128) and b["cam2world"].shape == (2, 4, 4)
    # View 0 is the crop's true camera: the head the ground truth shows covers the face mesh MediaPipe put
    # in the crop (an error in the crop's camera or the landmark mapping shifts one off the other).
    face = torch.nn.functional.interpolate(b["geometry"][:, 7:8], size=32, mode="area")[:, 0] > 0.5  # [B, 32, 32]
    head = b["view_mask"][:, 0, 0] > 0.5
    assert face.sum() > 50
    assert (face & head).sum() / face.sum() > 0.9
    # The solved camera sees the head from near the true direction (the focal is only guessed, so not exactly).
    pivot = torch.tensor(DEFAULT_PIVOT)
    true_dir, solved_dir = b["view_c2w"][:, 0, :3, 3] - pivot, b["cam2world"][:, :3, 3] - pivot
    assert (torch.nn.functional.cosine_similarity(true_dir, solved_dir, dim=-1) > np.cos(np.radians(30))).all()


def test_stream_window_draws_from_the_newest_and_passes_failures(tracked, tmp_path):
    root = tmp_path / "stream"
    root.mkdir()
    for i in range(3):
        shutil.copy(sample_path(tracked, i), sample_path(root, i + 10))
    failure_path(root, 13).write_text("plate: no face detected\n")
    data = SampleCache(root, window=(12, 1.0, 3), count=20)  # step 2 sees samples 11..13
    picked = data._pick(2, 6, seed=0)
    assert set(picked) <= {11, 12} and len(picked) == 6
    assert read_failures(root) == {13: "plate: no face detected"}


def test_pixel_lifter_trains_from_the_tiny_lifter_on_tracked_samples(tracked, tmp_path):
    cfg = EncoderTrainConfig(
        steps=2, batch=2, points=128, render_views=2, render_res=16, rays_per_view=32, n_coarse=8, n_fine=4,
        checkpoint_every=1, log_every=1, warmup=1, tracked=True, samples=3,
    )
    final = train_encoder(tmp_path / "run", tracked, "pixel", cfg, progress=False, init=default_lifter_path("tiny"))
    state = load_checkpoint(final)
    assert state["encoder_config"]["kind"] == "pixel" and state["step"] == 2
    assert state["history"][0]["init"] == str(default_lifter_path("tiny"))
    tiny = load_checkpoint(default_lifter_path("tiny"))["model"]
    moved = state["model"]["encoder.global_branch.blocks.0.attn.in_proj_weight"]
    assert (moved - tiny["encoder.blocks.0.attn.in_proj_weight"]).abs().max() < 0.05  # started from tiny
    assert load_lifter(final).needs_geometry
