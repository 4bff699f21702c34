import json

import numpy as np
import pytest
import torch

from backend.checkpoint import file_sha256, load_checkpoint
from backend.models.weights import default_lifter_path, load_fusion
from backend.train.fusion_cache import ClipCache, build_clip_cache
from backend.train.fusion_stage import FusionTrainConfig, train_fusion
from backend.train.losses import temporal_change_loss
from backend.train.record import training_record


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return build_clip_cache(tmp_path_factory.mktemp("clips"), 2, seed=7, lifter_path=default_lifter_path(),
                            frames=3, novel_views=2, novel_res=16, points=128, progress=False)


def small(steps: int) -> FusionTrainConfig:
    return FusionTrainConfig(steps=steps, batch=1, frames=2, points=64, rays_per_view=16, structure_res=12,
                             n_coarse=8, n_fine=4, checkpoint_every=2, log_every=1, warmup=2)


def test_clip_cache_holds_lifted_clips_with_ground_truth(clips):
    data = ClipCache(clips, file_sha256(default_lifter_path()))
    assert len(data) == 2
    c = data.load(0)
    assert c["raw"].shape == (3, 3, 24, 64, 64) and c["target"].shape == (3, 3, 24, 64, 64)
    assert c["prior"].shape == (3, 24, 64, 64)
    # the frame's own view and the frontal pseudo ground truth differ (the head turns), but are the same head
    assert np.abs(c["raw"].astype(np.float32) - c["target"].astype(np.float32)).mean() > 1e-3
    assert 0.05 < c["visibility"].mean() / 255 < 0.95  # a frame sees part of the head, not all of it
    b = data.batch(0, 2, 2, 32, seed=0)
    assert b["raw"].shape == (2, 2, 3, 24, 64, 64) and b["visibility"].shape == (2, 2, 3, 1, 32, 32)
    assert b["novel_rgb"].shape == (2, 2, 2, 3, 16, 16) and b["points"].shape == (2, 2, 32, 3)
    again = data.batch(0, 2, 2, 32, seed=0)
    assert all(torch.equal(b[k], again[k]) for k in b)  # the batch of a step depends only on (seed, step)


def test_cache_from_another_lifter_is_refused(clips):
    with pytest.raises(ValueError, match="encoded by another lifter"):
        ClipCache(clips, "0" * 64).load(0)


def test_resume_is_exact_and_the_record_names_the_lifter(clips, tmp_path):
    lifter = default_lifter_path()
    straight = train_fusion(tmp_path / "a", clips, lifter, "tiny", small(4), progress=False)
    train_fusion(tmp_path / "b", clips, lifter, "tiny", small(2), progress=False)
    resumed = train_fusion(tmp_path / "b", clips, lifter, "tiny", small(4), progress=False)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    assert a["step"] == b["step"] == 4
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-6), key
    log = [json.loads(line) for line in (tmp_path / "b" / "train.log").read_text().splitlines()]
    assert [row["step"] for row in log] == [0, 1, 2, 3]
    assert {"undist", "vis", "fusion", "render_rgb", "structure", "density", "temporal"} <= set(log[0])
    record = training_record(tmp_path / "b", "fusion.pt")
    assert record["stage"] == "fusion" and record["lifter_sha256"] == file_sha256(lifter)
    assert len(record["history"]) == 2 and record["fusion_config"]["plane_size"] == 64
    net = load_fusion(resumed)
    assert not net.training


def test_temporal_change_loss_counts_flicker_and_missed_change_not_constant_error():
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 4, 3, 8, generator=gen)  # [B, T, ...] a changing truth
    assert temporal_change_loss(truth + 0.3, truth) < 1e-6  # a constant error is not temporal
    still = truth[:, :1].expand_as(truth)  # a prediction that misses every change
    flicker = truth + 0.1 * torch.randn(truth.shape, generator=gen)
    assert temporal_change_loss(still, truth) > 0.1 and temporal_change_loss(flicker, truth) > 0.05


def test_init_starts_from_earlier_weights_and_carries_their_history(clips, tmp_path):
    lifter = default_lifter_path()
    base = train_fusion(tmp_path / "base", clips, lifter, "tiny", small(2), progress=False)
    cfg = small(1)
    cfg.lr = 1e-9  # one step that cannot move the weights: what comes out is what went in
    tuned = train_fusion(tmp_path / "tuned", clips, lifter, "tiny", cfg, progress=False, init=base)
    a, b = load_checkpoint(base), load_checkpoint(tuned)
    for key in a["model"]:
        assert torch.allclose(a["model"][key], b["model"][key], atol=1e-5), key
    history = training_record(tmp_path / "tuned", "fusion.pt")["history"]
    assert [h.get("run") for h in history] == ["init", None]
    assert history[-1]["init_sha256"] == file_sha256(base) and history[-1]["init_steps"] == 2
    with pytest.raises(ValueError, match="not fusion weights"):
        train_fusion(tmp_path / "bad", clips, lifter, "tiny", small(1), progress=False, init=lifter)


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="headfuse train --stage fusion"):
        load_fusion(tmp_path / "nope.pt")
