import pytest
import torch

from backend.config import ENCODER_PRESETS, encoder_preset, fusion_preset
from backend.models.fusion import METHODS, FusionNet
from backend.models.planewise import PlaneConv, reference_planewise
from backend.models.undistorter import warp_planes


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return FusionNet(fusion_preset("tiny")).eval()


def _planes(seed: int, b: int = 1) -> torch.Tensor:
    cfg = fusion_preset("tiny")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, cfg.plane_channels, cfg.plane_size, cfg.plane_size, generator=gen)


def test_grouped_plane_conv_matches_one_conv_per_plane():
    torch.manual_seed(1)
    conv = PlaneConv(5, 7, 3, stride=2)
    x = torch.randn(2, 15, 16, 16)
    torch.testing.assert_close(conv(x), reference_planewise(conv, x), rtol=1e-5, atol=1e-5)


def test_networks_are_independent_per_plane(net):
    """One network per plane, never shared: changing the xy plane's input leaves the other planes' output alone."""
    raw, prior = _planes(1), _planes(2)
    state = net.start(prior)
    with torch.no_grad():
        a, _ = net.step(raw, state)
        bumped = raw.clone()
        bumped[:, 0] += 1.0
        b, _ = net.step(bumped, state)
    for key in ("undist", "vis_undist", "fused"):
        assert not torch.allclose(a[key][:, 0], b[key][:, 0])
        torch.testing.assert_close(a[key][:, 1:], b[key][:, 1:])
    w = net.fuser.stem[0].weight.view(3, -1)
    assert not torch.allclose(w[0], w[1])  # separately initialised, so separately learnt


def test_tiny_shapes_size_and_untrained_behaviour(net):
    cfg = net.cfg
    assert sum(p.numel() for p in net.parameters()) < 3_000_000
    raw, prior = _planes(3, b=2), _planes(4, b=2)
    state = net.start(prior)
    with torch.no_grad():
        out, state2 = net.step(raw, state)
    P, C = cfg.plane_size, cfg.plane_channels
    assert out["undist"].shape == (2, 3, C, P, P) and out["flow"].shape == (2, 3, 2, P, P)
    assert out["vis_undist"].shape == (2, 3, 1, P, P) and out["fused"].shape == (2, 3, C, P, P)
    assert state2.recurrent.shape == (2, 3, cfg.state_channels, P // 2, P // 2)
    # untrained: the undistorter is the identity and the fuser mostly passes the frame through
    torch.testing.assert_close(out["undist"], raw)
    assert float(out["blend"].mean()) > 0.9
    assert not torch.equal(state2.recurrent, state.recurrent)  # the state carries something


def test_methods(net):
    raw, prior = _planes(5), _planes(6)
    state = net.start(prior)
    per_frame, s = net.fuse_frame(raw, state, "per-frame")
    assert per_frame is raw and s is state
    for method in METHODS[1:]:
        planes, _ = net.fuse_frame(raw, state, method)
        assert planes.shape == raw.shape and torch.isfinite(planes).all()
    with pytest.raises(ValueError, match="unknown method 'blend'"):
        net.fuse_frame(raw, state, "blend")


def test_warp_by_zero_flow_is_identity_and_shift_moves_content():
    planes = _planes(7)[:, :, :2, :16, :16].contiguous()
    flow = torch.zeros(1, 3, 2, 16, 16)
    torch.testing.assert_close(warp_planes(planes, flow), planes)
    flow[:, :, 0] = 2.0 / 16  # one texel to the right in grid_sample units
    moved = warp_planes(planes, flow)
    torch.testing.assert_close(moved[..., :, :-1], planes[..., :, 1:])


def test_wrong_prior_shape_is_explained(net):
    with pytest.raises(AssertionError, match=r"prior must be \[B, 3, 24, 64, 64\]"):
        net.start(torch.zeros(1, 3, 24, 32, 32))


def test_paper_config_shapes_on_the_meta_device():
    """The paper config (3x32x256x256 planes) is instantiable and its shapes hold; the meta device checks
    shapes without the compute."""
    cfg = fusion_preset("paper")
    with torch.device("meta"):
        net = FusionNet(cfg)
        planes = torch.empty(1, 3, 32, 256, 256)
        out, state = net.step(planes, net.start(planes))
    assert (cfg.plane_channels, cfg.plane_size) == (32, 256)
    assert out["fused"].shape == (1, 3, 32, 256, 256) and out["flow"].shape == (1, 3, 2, 256, 256)
    assert state.recurrent.shape == (1, 3, cfg.state_channels, 128, 128)


def test_every_lifter_preset_has_fusion_networks_that_fit_its_planes():
    for name in ENCODER_PRESETS:
        lifter, fusion = encoder_preset(name), fusion_preset(name)
        assert (fusion.plane_channels, fusion.plane_size) == (lifter.plane_channels, lifter.plane_size), name
