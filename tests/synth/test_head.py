"""The head field: determinism, the Field contract, expression locality, keypoints."""

import pytest
import torch

from backend.render.field import SURFACE_DENSITY
from backend.synth.dataset import sample_points
from backend.synth.expression import NAMES, REGIONS, Expression
from backend.synth.head import KEYPOINT_NAMES, SHELL, SynthHead
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting


def _probe_points(head: SynthHead, n: int = 6000) -> torch.Tensor:
    """Near-surface points all over the head and densely over the face, plus uniform ones `[3n, 3]`."""
    gen = torch.Generator().manual_seed(3)
    near = sample_points(head, n, gen, near_surface=1.0, sigma=0.004)["points"]
    face = torch.rand(n, 3, generator=gen) * torch.tensor([0.3, 0.5, 0.3]) + torch.tensor([-0.15, -0.3, 0.15])
    for _ in range(8):
        face = face - head.sdf(face)[:, None] * head.normals(face)
    face = face + 0.004 * torch.randn(n, 3, generator=gen)
    return torch.cat([near, face, torch.rand(n, 3, generator=gen) - 0.5])


def test_same_seed_same_person_different_seed_different_person():
    a, b, c = Identity.sample(42), Identity.sample(42), Identity.sample(43)
    assert a == b and a != c
    p = torch.rand(2000, 3) - 0.5
    ha, hb, hc = (SynthHead(i, Expression(smile=0.5), Lighting.studio()) for i in (a, b, c))
    assert torch.equal(ha.sdf(p), hb.sdf(p))
    assert torch.equal(ha.colour(p), hb.colour(p))
    assert (ha.sdf(p) - hc.sdf(p)).abs().max() > 1e-3


def test_field_contract_and_surface_density():
    head = SynthHead(Identity.sample(5), Expression(jaw_open=0.4))
    p = (torch.rand(2, 500, 3) - 0.5).requires_grad_(False)
    density, rgb = head(p)
    assert density.shape == (2, 500, 1) and rgb.shape == (2, 500, 3)
    assert (density >= 0).all() and (rgb >= 0).all() and (rgb <= 1).all()
    # points projected onto the zero level have exactly the surface density
    surf = sample_points(head, 400, torch.Generator().manual_seed(0), near_surface=1.0, sigma=0.0)["points"]
    d = head.sdf(surf)
    assert (d.abs() < 1e-3).float().mean() > 0.95 and d.abs().median() < 1e-5
    dens = head.density_from_sdf(torch.zeros(1))
    assert float(dens) == pytest.approx(SURFACE_DENSITY)
    # inside is dense, far outside is empty
    assert float(head(torch.tensor([[[0.0, 0.05, 0.0]]]))[0]) > 49.0
    assert float(head(torch.tensor([[[0.0, 0.45, 0.45]]]))[0]) < 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_expression_moves_only_its_region(name):
    """Shape (density) and surface colour change inside the expression's region and nowhere else.

    (Signed distances far from the surface are not local by nature, so the test compares density,
    i.e. occupancy, and colour where there is surface, outside the region grown by a few shell
    widths.)
    """
    ident = Identity.template()
    neutral = SynthHead(ident, Expression.neutral(), Lighting.studio())
    posed = SynthHead(ident, Expression(**{name: 1.0}), Lighting.studio())
    p = _probe_points(neutral)
    centre, radii = (torch.tensor(v) for v in REGIONS[name])
    q = ((p - neutral.offset) / neutral.scale - centre) / (radii + 6 * SHELL)  # template frame, region units
    inside = q.norm(dim=-1) <= 1.0
    dens_n, dens_p = (h.density_from_sdf(h.sdf(p)) for h in (neutral, posed))
    d_dens = (dens_p - dens_n).abs()
    on_surface = (dens_n > 1.0) & (dens_p > 1.0) & (dens_n < 49.0)
    d_rgb = (posed.albedo(p) - neutral.albedo(p)).abs().amax(-1)
    assert inside.sum() > 100 and (~inside & on_surface).sum() > 500
    assert d_dens[~inside].max() < 0.05, f"{name} changed the shape outside its region"
    assert d_rgb[~inside & on_surface].max() < 1e-4, f"{name} changed the colour outside its region"
    assert d_dens[inside].max() > 10.0, f"{name} did not change the shape"


def test_keypoints_follow_the_face_and_the_expression():
    head = SynthHead(Identity.sample(9))
    kp = dict(zip(KEYPOINT_NAMES, head.keypoints(), strict=True))
    assert kp["left_eye_outer"][0] > kp["left_eye_inner"][0] > 0 > kp["right_eye_inner"][0] > kp["right_eye_outer"][0]
    assert kp["mouth_left"][0] > 0 > kp["mouth_right"][0]
    assert kp["left_eye_inner"][1] > kp["nose_tip"][1] > kp["mouth_left"][1] > kp["chin"][1]
    assert kp["nose_tip"][2] > kp["mouth_left"][2] and kp["nose_tip"][2] > kp["left_eye_inner"][2]
    assert head.sdf(head.keypoints()).abs().max() < 2e-3  # on the surface
    opened = SynthHead(Identity.sample(9), Expression(jaw_open=1.0)).keypoints()
    i = KEYPOINT_NAMES.index("chin")
    assert opened[i, 1] < head.keypoints()[i, 1] - 0.03  # the chin drops with the jaw
