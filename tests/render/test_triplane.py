import pytest
import torch

from backend.render.decoder import TriplaneDecoder
from backend.render.field import TriplaneField
from backend.render.triplane import check_triplane, sample_triplane, sample_triplane_reference


def test_fast_sampler_matches_reference():
    planes = torch.randn(2, 3, 8, 16, 20)
    pts = torch.rand(2, 500, 3) * 1.2 - 0.6  # some outside the box
    a = sample_triplane_reference(planes, pts)
    b = sample_triplane(planes, pts)
    assert a.shape == (2, 500, 8)
    assert torch.allclose(a, b, atol=1e-6)


def test_plane_axes_order_xy_xz_yz():
    planes = torch.zeros(1, 3, 1, 32, 32)
    ramp = torch.linspace(-1, 1, 32)
    planes[0, 0, 0] = ramp[None, :]  # xy plane varies with its width axis = x
    planes[0, 2, 0] = ramp[:, None]  # yz plane varies with its height axis = z
    p = torch.tensor([[[0.3, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.3]]])
    f = sample_triplane(planes, p)[0, :, 0] * 3
    assert f[0] > 0.5 and abs(f[1]) < 0.05 and f[2] > 0.5


def test_outside_box_reads_zero():
    planes = torch.ones(1, 3, 4, 8, 8)
    f = sample_triplane(planes, torch.tensor([[[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]]))
    assert torch.allclose(f[0, 0], torch.ones(4)) and torch.allclose(f[0, 1], torch.zeros(4))


@pytest.mark.parametrize(
    "planes, message",
    [
        (torch.zeros(3, 8, 16, 16), r"\[B, 3, C, H, W\]"),
        (torch.zeros(1, 2, 8, 16, 16), r"\[B, 3, C, H, W\]"),
        (torch.full((1, 3, 8, 4, 4), float("nan")), "NaN"),
        (torch.zeros(1, 3, 5, 4, 4), "5 channels, the decoder expects 8"),
    ],
)
def test_bad_triplanes_are_explained(planes, message):
    with pytest.raises(ValueError, match=message):
        check_triplane(planes, channels=8)
    with pytest.raises(ValueError, match=message):
        TriplaneField(planes, TriplaneDecoder(in_channels=8))


def test_decoder_ranges():
    dec = TriplaneDecoder(in_channels=8, out_features=5)
    density, feats = dec(torch.randn(2, 100, 8) * 10)
    assert density.shape == (2, 100, 1) and feats.shape == (2, 100, 5)
    assert (density >= 0).all() and (feats >= -0.001).all() and (feats <= 1.001).all()
