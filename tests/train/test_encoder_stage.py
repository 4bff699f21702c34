import json

import pytest
import torch

from backend.checkpoint import load_checkpoint
from backend.models.weights import load_lifter
from backend.train.encoder_stage import EncoderTrainConfig, train_encoder
from backend.train.sample_cache import SampleCache, build_cache


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return build_cache(tmp_path_factory.mktemp("samples"), 3, seed=5, image_size=128, points=512, progress=False)


def small(steps: int) -> EncoderTrainConfig:
    return EncoderTrainConfig(
        steps=steps,
        batch=2,
        points=128,
        render_views=2,
        render_res=16,
        rays_per_view=32,
        n_coarse=8,
        n_fine=4,
        checkpoint_every=2,
        log_every=1,
        warmup=2,
    )


def test_cache_samples_have_exact_ground_truth(cache):
    data = SampleCache(cache)
    assert len(data) == 3
    b = data.batch(0, 2, 64, 2, 16, seed=0)
    assert b["image"].shape == (2, 3, 128, 128) and b["view_rgb"].shape == (2, 2, 3, 16, 16)
    assert b["points"].shape == (2, 64, 3) and b["density"].shape == (2, 64, 1)
    assert (b["density"] > 25).any() and (b["density"] < 1).any()  # inside and outside the head
    assert 0.05 < b["view_mask"].mean() < 0.95
    again = data.batch(0, 2, 64, 2, 16, seed=0)
    assert all(torch.equal(b[k], again[k]) for k in b)  # the batch of a step depends only on (seed, step)


def test_resume_is_exact(cache, tmp_path):
    straight = train_encoder(tmp_path / "a", cache, "tiny", small(4), progress=False)
    train_encoder(tmp_path / "b", cache, "tiny", small(2), progress=False)
    resumed = train_encoder(tmp_path / "b", cache, "tiny", small(4), progress=False)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-6), key
    log = [json.loads(line) for line in (tmp_path / "b" / "train.log").read_text().splitlines()]
    assert [row["step"] for row in log] == [0, 1, 2, 3]
    assert "command" in b and "commit" in b and b["encoder_config"]["plane_size"] == 64
    model = load_lifter(resumed)
    assert not model.training


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="headfuse train --stage encoder"):
        load_lifter(tmp_path / "nope.pt")
