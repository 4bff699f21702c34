import math

import pytest
import torch

from backend.config import encoder_preset
from backend.face.geometry import GEOMETRY_CHANNELS
from backend.models.lifter import Lifter
from backend.models.pixel_lifting import gather_along_lines, line_points
from backend.models.weights import default_lifter_path, load_lifter
from backend.render.cameras import intrinsics_matrix, orbit_camera
from backend.render.triplane import sample_triplane


def test_line_points_are_the_texels_the_triplane_reads():
    # A plane whose texels hold their own coordinates must read back, at each line point, that point's
    # two plane coordinates: the lifting writes where the renderer reads.
    P, D = 8, 4
    pts = line_points(P, D)  # [3, P, P, D, 3]
    assert pts.shape == (3, P, P, D, 3)
    for k, (a, b) in enumerate(((0, 1), (0, 2), (1, 2))):
        planes = torch.zeros(1, 3, 2, P, P)
        planes[0, k] = pts[k, :, :, 0][..., [a, b]].permute(2, 0, 1) * 3.0  # x3: the sampler averages planes
        got = sample_triplane(planes, pts[k].reshape(1, -1, 3))[0]  # [N, 2]
        assert torch.allclose(got, pts[k].reshape(-1, 3)[:, [a, b]], atol=1e-5)


def test_gather_reads_the_pixel_a_point_projects_to():
    # An image whose value is its own u coordinate: every point must read the u it projects to.
    S = 64
    u = ((torch.arange(S) + 0.5) / S).expand(S, S)[None, None]  # [1, 1, S, S]
    c2w, K = orbit_camera(torch.tensor([0.4]), torch.tensor([0.2])), intrinsics_matrix(batch=1)
    pts = line_points(8, 4)
    out = gather_along_lines([u], torch.zeros(1, GEOMETRY_CHANNELS, S, S), c2w, K, pts)
    world2cam = torch.linalg.inv(c2w)[0]
    cam = pts.reshape(-1, 3) @ world2cam[:3, :3].T + world2cam[:3, 3]
    expect = cam[:, 0] / cam[:, 2] * K[0, 0, 0] + K[0, 0, 2]
    v = cam[:, 1] / cam[:, 2] * K[0, 1, 1] + K[0, 1, 2]
    inside = (expect > 0.05) & (expect < 0.95) & (v > 0.05) & (v < 0.95)
    assert inside.sum() > 100
    assert torch.allclose(out.reshape(-1, out.shape[-1])[inside, 0], expect[inside], atol=2e-3)
    assert torch.equal(out.reshape(-1, out.shape[-1])[:, -3:], pts.reshape(-1, 3))  # X comes last


@pytest.mark.parametrize("preset", ["pixel", "pyramid"])
def test_pixel_lifter_starts_as_the_global_lifter_and_learns_from_the_lifting(preset):
    torch.manual_seed(0)
    v1 = load_lifter(default_lifter_path("tiny"))
    cfg = encoder_preset(preset)
    model = Lifter(cfg)
    model.init_from(v1)
    B, S = 2, cfg.image_size
    images, geometry = torch.rand(B, 3, S, S), torch.rand(B, GEOMETRY_CHANNELS, S, S)
    c2w, K = orbit_camera(torch.tensor([0.0, math.radians(30)]), torch.zeros(B)), intrinsics_matrix(batch=B)
    with torch.no_grad():
        assert torch.allclose(model(images, geometry, c2w, K), v1(images), atol=1e-4)
    planes = model(images, geometry, c2w, K)
    planes.square().mean().backward()
    assert model.encoder.fuse[-1].weight.grad.abs().sum() > 0  # the zero-initialised output conv trains
    assert planes.shape == (B, 3, cfg.plane_channels, cfg.plane_size, cfg.plane_size)


def test_pyramid_lifter_starts_as_the_single_level_lifter_it_is_given():
    torch.manual_seed(2)
    single = Lifter(encoder_preset("pixel"))
    with torch.no_grad():  # a trained-like single level: its last fuse conv no longer zero
        single.encoder.fuse[-1].weight.normal_(0.0, 0.05)
    pyramid = Lifter(encoder_preset("pyramid"))
    pyramid.init_from(single)
    B, S = 1, single.cfg.image_size
    images, geometry = torch.rand(B, 3, S, S), torch.rand(B, GEOMETRY_CHANNELS, S, S)
    c2w, K = orbit_camera(torch.tensor([0.2]), torch.zeros(B)), intrinsics_matrix(batch=B)
    with torch.no_grad():
        out, expect = pyramid(images, geometry, c2w, K), single(images, geometry, c2w, K)
    assert (expect - single.encoder.global_branch(images, geometry)).abs().max() > 1e-3  # the lifting counts
    assert torch.allclose(out, expect, atol=1e-5)


def test_pixel_lifter_refuses_a_call_without_geometry():
    model = Lifter(encoder_preset("pixel"))
    with pytest.raises(ValueError, match="needs the face-mesh geometry"):
        model(torch.rand(1, 3, 128, 128))


@pytest.mark.parametrize("preset", ["pixel", "pyramid"])
def test_fast_lifting_matches_the_reference(preset):
    torch.manual_seed(1)
    cfg = encoder_preset(preset)
    model = Lifter(cfg).encoder
    B, S = 2, cfg.image_size
    images, geometry = torch.rand(B, 3, S, S), torch.rand(B, GEOMETRY_CHANNELS, S, S)
    geometry[:, 7] = (geometry[:, 7] > 0.3).float()
    c2w, K = orbit_camera(torch.tensor([0.3, -0.5]), torch.tensor([0.1, 0.0])), intrinsics_matrix(batch=B)
    with torch.no_grad():
        fast = model.lift(images, geometry, c2w, K)
        ref = model.lift_reference(images, geometry, c2w, K)
    levels = 2 if cfg.fine_lift_size else 1
    assert fast.shape == (B, 3, 2 * cfg.lift_channels * levels, cfg.plane_size, cfg.plane_size)
    assert torch.allclose(fast, ref, atol=1e-4), (fast - ref).abs().max()
