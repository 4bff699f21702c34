import torch
from torch import nn

from backend.config import RenderConfig
from backend.render.cameras import intrinsics_matrix, orbit_camera
from backend.render.decoder import TriplaneDecoder
from backend.render.field import TriplaneField
from backend.render.rays import generate_rays
from backend.render.renderer import render_image, render_rays, render_rays_reference

RADIUS = 0.3


class SphereDecoder(nn.Module):
    """Reads |p|^2 from a triplane whose planes each hold a^2 + b^2 (their mean is 2/3 |p|^2)."""

    in_channels = 4

    def forward(self, feats):
        r2 = 1.5 * feats[..., :1]
        density = 1000.0 * torch.sigmoid((RADIUS**2 - r2) / (2 * RADIUS * 0.0005))
        return density, feats[..., 1:4].clamp(0, 1) * 3.0


def sphere_triplane(res: int = 256) -> torch.Tensor:
    """`[1, 3, 4, res, res]`: channel 0 = a^2 + b^2 over each plane, channels 1-3 = plane colour / 3."""
    c = (torch.arange(res) + 0.5) / res - 0.5  # texel centres in box units (align_corners=False)
    b, a = torch.meshgrid(c, c, indexing="ij")  # height axis = second coordinate
    planes = torch.zeros(1, 3, 4, res, res)
    for i in range(3):
        planes[0, i, 0] = a**2 + b**2
        planes[0, i, 1 + i] = 1.0 / 3.0 * 0.9
    return planes


def analytic_sphere(origins, dirs):
    b = (origins * dirs).sum(-1)
    closest = (origins - b[..., None] * dirs).norm(dim=-1)
    disc = b * b - ((origins * origins).sum(-1) - RADIUS**2)
    return closest, -b - disc.clamp_min(0).sqrt()


def test_triplane_sphere_matches_analytic_silhouette_and_depth():
    field = TriplaneField(sphere_triplane(), SphereDecoder())
    c2w, K = orbit_camera(0.4, -0.2), intrinsics_matrix(batch=1)
    res = 64
    out = render_image(field, c2w, K, res)
    origins, dirs = generate_rays(c2w, K, res)
    closest, t_hit = analytic_sphere(origins[0], dirs[0])
    opacity = out["opacity"][0, 0].reshape(-1)
    depth = out["depth"][0, 0].reshape(-1)
    pixel = 2.7 / 4.2647 / res  # one pixel's width at the sphere, in box units
    clear_in = closest < RADIUS - 0.5 * pixel
    clear_out = closest > RADIUS + 0.5 * pixel
    assert (opacity[clear_in] > 0.99).all()
    assert (opacity[clear_out] < 0.01).all()
    core = closest < 0.9 * RADIUS
    assert (depth[core] - t_hit[core]).abs().max() < 0.01
    assert (depth[core] - t_hit[core]).abs().mean() < 0.002
    rgb = out["rgb"][0].reshape(3, -1)[:, core]
    assert torch.allclose(rgb, torch.full_like(rgb, 0.3), atol=0.02)


def test_fast_path_matches_reference():
    torch.manual_seed(1)
    planes = torch.randn(2, 3, 8, 16, 16)
    dec = TriplaneDecoder(in_channels=8, hidden=16, out_features=6)
    with torch.no_grad():
        dec.net[-1].bias[0] = 3.0  # enough density to make the composite non-trivial
    c2w = orbit_camera(torch.tensor([0.0, 1.2]), torch.tensor([0.0, 0.3]))
    K = intrinsics_matrix(3.0, batch=2)  # wide: some rays miss the box
    origins, dirs = generate_rays(c2w, K, 24)
    cfg = RenderConfig(n_coarse=16, n_fine=16, chunk_rays=100, background=1.0)
    with torch.no_grad():
        ref = render_rays_reference(TriplaneField(planes, dec, reference=True), origins, dirs, cfg)
        fast = render_rays(TriplaneField(planes, dec), origins, dirs, cfg)
    for key in ("rgb", "depth", "opacity", "features"):
        assert ref[key].shape == fast[key].shape
        assert torch.allclose(ref[key], fast[key], atol=1e-4), key
    assert (ref["opacity"] > 0.5).any() and (ref["opacity"] < 0.01).any()


def test_rays_missing_the_box_show_background():
    field = TriplaneField(sphere_triplane(32), SphereDecoder())
    origins = torch.tensor([[[0.0, 2.0, 3.0]]])
    dirs = torch.tensor([[[0.0, 0.0, -1.0]]])
    out = render_rays(field, origins, dirs, RenderConfig(background=0.25))
    assert torch.allclose(out["rgb"], torch.full((1, 1, 3), 0.25)) and out["opacity"].item() == 0.0


def test_gradients_flow_to_planes():
    planes = torch.randn(1, 3, 8, 8, 8, requires_grad=True)
    dec = TriplaneDecoder(in_channels=8, hidden=8, out_features=3)
    out = render_image(
        TriplaneField(planes, dec),
        orbit_camera(0.0),
        intrinsics_matrix(batch=1),
        8,
        RenderConfig(n_coarse=8, n_fine=8, perturb=True),
    )
    out["rgb"].mean().backward()
    assert planes.grad is not None and planes.grad.abs().sum() > 0
