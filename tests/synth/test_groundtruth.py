"""Reference mesh vs field, visibility vs depth, the MediaPipe detection rate."""

import math

import numpy as np
import pytest
import torch

from backend.render.cameras import intrinsics_matrix, orbit_camera
from backend.render.rays import generate_rays
from backend.synth.expression import Expression
from backend.synth.head import SynthHead
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting
from backend.synth.meshing import reference_mesh
from backend.synth.render import render_gt
from backend.synth.visibility import head_depth_map, visibility_from_depth, visibility_triplanes
from backend.units import metres_to_box


def test_reference_mesh_agrees_with_the_field():
    head = SynthHead(Identity.sample(8), Expression(jaw_open=0.5, smile=0.3))
    mesh = reference_mesh(head, resolution=96)
    v = torch.from_numpy(metres_to_box(mesh.vertices))
    d = head.sdf(v).abs()
    assert d.median() < 1e-3 and d.quantile(0.99) < 6e-3  # vertices lie on the zero level
    # Chamfer against surface points found by tracing from a few cameras
    yaws = torch.tensor([0.0, 1.2, -1.2, 3.14])
    c2w, K = orbit_camera(yaws, torch.full_like(yaws, 0.2)), intrinsics_matrix(batch=4)
    depth = head_depth_map(head, c2w, K, 64)
    o, dirs = generate_rays(c2w, K, 64)
    hit = depth.reshape(4, -1) > 0
    surf = (o + dirs * depth.reshape(4, -1, 1))[hit]  # [M, 3]
    a = torch.cdist(surf, v).amin(1)  # to the nearest vertex: about half a cell even when exact
    cell = 1.0 / 96
    assert a.mean() < 0.6 * cell and (a < 2 * cell).float().mean() > 0.99
    assert mesh.volume() > 0 and mesh.colors.shape == mesh.vertices.shape


def test_visibility_agrees_with_depth():
    head = SynthHead(Identity.sample(6))
    c2w, K = orbit_camera(torch.tensor([0.3]), torch.tensor([0.1])), intrinsics_matrix(batch=1)
    depth = head_depth_map(head, c2w, K, 96)
    o, dirs = generate_rays(c2w, K, 96)
    hit = depth.reshape(1, -1) > 0
    surf = (o + dirs * depth.reshape(1, -1, 1))[hit][None]  # [1, M, 3] points the camera sees
    behind = surf + dirs[hit][None] * 0.05  # the same points pushed 0.05 into the head
    in_front = surf - dirs[hit][None] * 0.05
    assert visibility_from_depth(surf, depth, c2w, K).mean() > 0.99
    assert visibility_from_depth(behind, depth, c2w, K).mean() < 0.02
    assert visibility_from_depth(in_front, depth, c2w, K).mean() > 0.99
    # what a camera on the far side sees is hidden from this one (but for the rim both see)
    c2w_back = orbit_camera(torch.tensor([0.3 + math.pi]), torch.tensor([-0.1]))
    d_back = head_depth_map(head, c2w_back, K, 96)
    o_b, dirs_b = generate_rays(c2w_back, K, 96)
    hit_b = d_back.reshape(1, -1) > 0
    back = (o_b + dirs_b * d_back.reshape(1, -1, 1))[hit_b][None]
    assert visibility_from_depth(back, depth, c2w, K).mean() < 0.1
    planes = visibility_triplanes(head, c2w, K, resolution=32, depth=depth)
    assert planes.shape == (1, 3, 1, 32, 32) and planes.min() >= 0 and planes.max() <= 1
    xz = planes[0, 1, 0]  # height = z: the front half (z > 0) is seen, the back half is not
    assert xz[20:].mean() > 3 * xz[:12].mean()


@pytest.mark.slow
def test_mediapipe_finds_the_face_in_most_renders():
    mp = pytest.importorskip("mediapipe")
    detector = mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    found = 0
    for i in range(50):
        gen = torch.Generator().manual_seed(500 + i)
        head = SynthHead(Identity.sample(500 + i), Expression.sample(gen), Lighting.sample(gen))
        u = torch.rand(3, generator=gen)
        yaw, pitch = (2 * u[0] - 1) * math.radians(30), (2 * u[1] - 1) * math.radians(20)
        out = render_gt(head, orbit_camera(yaw, pitch), intrinsics_matrix(batch=1), 256,
                        background=torch.rand(3, generator=gen))
        img = (out["rgb"][0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        found += bool(detector.process(img).detections)
    assert found / 50 >= 0.8, f"MediaPipe found {found} of 50 faces"
