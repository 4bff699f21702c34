import pytest
import torch

from backend.config import encoder_preset
from backend.models.lifter import Lifter


def test_tiny_shapes_and_size():
    cfg = encoder_preset("tiny")
    model = Lifter(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params < 5_000_000  # "a few million parameters" at most: trains on a CPU, ships light
    planes = model(torch.rand(2, 3, cfg.image_size, cfg.image_size))
    assert planes.shape == (2, 3, cfg.plane_channels, cfg.plane_size, cfg.plane_size)
    density, feats = model.field(planes)(torch.rand(2, 10, 3) - 0.5)
    assert density.shape == (2, 10, 1) and feats.shape == (2, 10, cfg.decoder_features)


def test_paper_config_is_lp3d_scale():
    cfg = encoder_preset("paper")
    model = Lifter(cfg).eval()
    assert (cfg.image_size, cfg.plane_channels, cfg.plane_size) == (512, 32, 256)
    with torch.no_grad():
        planes = model(torch.rand(1, 3, 512, 512))
    assert planes.shape == (1, 3, 32, 256, 256)


def test_wrong_input_size_is_explained():
    model = Lifter(encoder_preset("tiny"))
    with pytest.raises(AssertionError, match=r"encoder expects \[B, 3, 128, 128\]"):
        model(torch.rand(1, 3, 64, 64))


def test_unknown_preset():
    with pytest.raises(ValueError, match="expected one of tiny, pixel, pyramid, paper"):
        encoder_preset("huge")
