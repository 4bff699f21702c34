"""Head pose: exact round trips, recovery from synthetic projections, and agreement with the canonical camera."""

import math

import numpy as np
import pytest
import torch

from backend.face.canonical import DEFAULT_CANONICAL, CanonicalFace
from backend.face.pose import (
    View,
    canonical_camera,
    pose_from_view,
    project,
    solve_pose,
    source_intrinsics,
    view_from_pose,
)
from backend.render.cameras import orbit_camera, project_points

ANGLES = [(0, 0, 0), (25, -10, 5), (-40, 15, -12), (55, 5, 20), (-15, -20, 0)]


@pytest.mark.parametrize("yaw,pitch,roll", ANGLES)
def test_view_pose_round_trip(template, yaw, pitch, roll):
    K = source_intrinsics(1280, 720)
    view = View(math.radians(yaw), math.radians(pitch), math.radians(roll), np.array([700.0, 300.0]), 250.0)
    back = view_from_pose(pose_from_view(view, K), K)
    assert np.degrees([back.yaw, back.pitch, back.roll]) == pytest.approx([yaw, pitch, roll], abs=1e-3)
    assert back.centre == pytest.approx(view.centre, abs=1e-3) and back.side == pytest.approx(250.0, rel=1e-5)


@pytest.mark.parametrize("yaw,pitch,roll", ANGLES)
def test_pose_recovered_from_noisy_projections(template, yaw, pitch, roll):
    rng = np.random.default_rng(yaw + 100)
    K = source_intrinsics(640, 480)
    view = View(math.radians(yaw), math.radians(pitch), math.radians(roll), np.array([350.0, 220.0]), 200.0)
    landmarks = project(template.points, pose_from_view(view, K), K) + rng.normal(0, 0.7, (478, 2))
    pose = solve_pose(template, landmarks, K)
    got = view_from_pose(pose, K)
    assert np.degrees([got.yaw, got.pitch, got.roll]) == pytest.approx([yaw, pitch, roll], abs=2.0)
    assert got.centre == pytest.approx(view.centre, abs=3.0) and got.side == pytest.approx(200.0, rel=0.03)
    assert pose.reprojection_error < 1.5
    again = solve_pose(template, landmarks, K, guess=pose)  # seeded by the previous frame
    assert np.allclose(again.rotation, pose.rotation, atol=1e-3)


def test_template_sits_where_the_constants_say(template):
    pts = template.points
    eyes = pts[[33, 133]].mean(0), pts[[263, 362]].mean(0)
    assert np.linalg.norm(eyes[1] - eyes[0]) == pytest.approx(DEFAULT_CANONICAL.interocular)
    assert 0.5 * (eyes[0] + eyes[1]) == pytest.approx(np.array(DEFAULT_CANONICAL.eye_midpoint))
    assert eyes[1][0] > eyes[0][0] and abs(eyes[1][1] - eyes[0][1]) < 0.01  # left eye at +x, about level
    assert pts[1, 2] > pts[[33, 263], 2].max()  # the nose points towards +z
    assert pts[10, 1] > pts[1, 1] > pts[152, 1]  # forehead above nose above chin
    assert 0.35 < pts[10, 1] - pts[152, 1] < 0.6  # forehead-to-chin of a 0.6-0.7 box-unit head
    assert np.all(np.abs(pts) < 0.5)  # inside the box
    rigid = set(template.rigid.tolist())
    assert {1, 6, 33, 263, 10}.issubset(rigid) and not {13, 14, 152, 159, 105} & rigid  # no lips, chin, lids, brows


def test_canonical_constants_from_eye_keypoints():
    face = CanonicalFace.from_eye_centres([-0.09, 0.05, 0.3], [0.09, 0.05, 0.3])
    assert face.interocular == pytest.approx(0.18) and face.eye_midpoint == pytest.approx((0.0, 0.05, 0.3))
    assert face.frame_span == pytest.approx(2.7 / 4.2647)


@pytest.mark.parametrize("yaw,pitch,roll", ANGLES)
def test_crop_of_the_source_matches_the_canonical_camera(template, yaw, pitch, roll):
    """Landmarks seen by the source camera and mapped by the crop ~ the template seen by the canonical camera."""
    from backend.face.align import crop_matrix

    K = source_intrinsics(1920, 1080, focal_px=4000.0)  # a long lens: perspective like the canonical camera's
    view = View(math.radians(yaw), math.radians(pitch), math.radians(roll), np.array([960.0, 540.0]), 400.0)
    source = project(template.points, pose_from_view(view, K), K)
    in_crop = (np.c_[source, np.ones(478)] @ crop_matrix(view.centre, view.side, 256).T)[:, :2]
    c2w, intr = canonical_camera(view)
    canon = project_points(
        torch.tensor(template.points, dtype=torch.float32)[None], torch.tensor(c2w)[None], torch.tensor(intr)[None]
    )
    canon = canon[0, :, :2].numpy() * 256
    assert np.abs(in_crop - canon).max() < 0.02 * 256
    assert c2w == pytest.approx(orbit_camera(view.yaw, view.pitch, 2.7, (0, 0, 0.2), view.roll)[0].numpy(), abs=1e-6)
    assert intr[0, 0] == pytest.approx(4.2647) and intr[0, 2] == pytest.approx(0.5)
