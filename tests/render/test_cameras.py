import math

import torch

from backend.render.cameras import (
    DEFAULT_PIVOT,
    focal_to_fov_degrees,
    intrinsics_matrix,
    look_at,
    orbit_camera,
    project_points,
)
from backend.render.rays import generate_rays, ray_box_intersection


def test_default_camera_is_eg3d():
    c2w = orbit_camera(0.0, 0.0)
    assert torch.allclose(c2w[0, :3, 3], torch.tensor([0.0, 0.0, 0.2 + 2.7]))
    assert torch.allclose(c2w[0, :3, 2], torch.tensor([0.0, 0.0, -1.0]))  # looks at the face (-z)
    assert torch.allclose(c2w[0, :3, 1], torch.tensor([0.0, -1.0, 0.0]))  # image down = world down
    assert abs(focal_to_fov_degrees(4.2647, diagonal=True) - 18.837) < 0.02
    assert abs(focal_to_fov_degrees(4.2647) - 13.37) < 0.01


def test_rotation_is_orthonormal_and_yaw_moves_to_plus_x():
    c2w = orbit_camera(torch.tensor([0.5, -0.7]), torch.tensor([0.2, -0.3]), roll=torch.tensor([0.1, 0.0]))
    R = c2w[:, :3, :3]
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(2), atol=1e-5)
    assert c2w[0, 0, 3] > 0 and c2w[1, 0, 3] < 0
    assert c2w[0, 1, 3] > 0 and c2w[1, 1, 3] < 0  # positive pitch looks down from above


def test_pivot_projects_to_principal_point_and_rays_round_trip():
    c2w = orbit_camera(torch.tensor([0.3, -1.0]), torch.tensor([0.1, 0.4]))
    K = intrinsics_matrix(4.0, torch.tensor([0.45, 0.55]), torch.tensor([0.5, 0.52]))
    uvz = project_points(torch.tensor(DEFAULT_PIVOT).expand(2, 1, 3), c2w, K)
    assert torch.allclose(uvz[:, 0, :2], K[:, :2, 2], atol=1e-5)
    origins, dirs = generate_rays(c2w, K, (6, 8))
    pts = origins + 2.5 * dirs
    uv = project_points(pts, c2w, K)[..., :2]
    v, u = torch.meshgrid((torch.arange(6) + 0.5) / 6, (torch.arange(8) + 0.5) / 8, indexing="ij")
    expect = torch.stack([u.reshape(-1), v.reshape(-1)], -1)
    assert torch.allclose(uv, expect.expand_as(uv), atol=1e-5)


def test_top_of_image_is_world_up():
    origins, dirs = generate_rays(orbit_camera(0.0), intrinsics_matrix(batch=1), 4)
    assert dirs[0, 0, 1] > 0 > dirs[0, -1, 1]


def test_look_at_points_forward():
    eye = torch.tensor([[1.0, 2.0, 3.0]])
    c2w = look_at(eye, torch.zeros(1, 3))
    assert torch.allclose(c2w[0, :3, 2], -eye[0] / eye.norm(), atol=1e-6)


def test_ray_box_limits():
    o = torch.tensor([[0.0, 0.0, 3.0], [0.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    d = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    near, far, hit = ray_box_intersection(o, d)
    assert hit.tolist() == [True, False, True]
    assert torch.allclose(near[0], torch.tensor([2.5])) and torch.allclose(far[0], torch.tensor([3.5]))
    assert torch.allclose(near[2], torch.tensor([0.0])) and torch.allclose(far[2], torch.tensor([0.5]))
    assert math.isclose(float(far[1]), 0.0)
