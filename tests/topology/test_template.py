"""The shipped head template: made by its command (rebuilt and compared), one closed surface of 10-20k
evenly spaced vertices in one UV layout, and every face-mesh landmark on a vertex near where it was found."""

import numpy as np
import pytest

from backend.topology.template import N_FACE_LANDMARKS, build_head_template, load_head_template


@pytest.fixture(scope="module")
def template():
    return load_head_template()


def test_the_shipped_template_is_what_its_command_builds(template):
    rebuilt = build_head_template(resolution=96)
    for name in ("faces", "weld", "landmarks"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(template, name))
    np.testing.assert_allclose(rebuilt.vertices, template.vertices, atol=1e-6)


def test_one_closed_surface_of_even_triangles(template):
    unique = template.weld[template.faces]  # faces on the welded points: the seam closes
    assert 10_000 <= len(np.unique(template.weld)) <= 20_000
    edges = np.sort(np.concatenate([unique[:, [0, 1]], unique[:, [1, 2]], unique[:, [2, 0]]]), axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    assert (uses == 2).all()  # every edge between exactly two triangles: closed, manifold
    corners = template.vertices[template.faces]
    lengths = np.linalg.norm(corners[:, [1, 2, 0]] - corners, axis=2).ravel()
    assert lengths.std() / lengths.mean() < 0.3  # evenly spaced (marching cubes then tangential relaxation)
    assert template.uv.shape == (len(template.vertices), 2) and 0 <= template.uv.min() and template.uv.max() < 2


def test_every_face_landmark_is_tied_to_a_vertex_near_where_it_was_found(template):
    assert template.landmarks.shape == (N_FACE_LANDMARKS,) and template.landmarks.max() < len(template.vertices)
    gap_mm = np.linalg.norm(template.vertices[template.landmarks] - template.landmark_points, axis=1) * 1000
    assert gap_mm.max() < 4.0 and gap_mm.mean() < 2.0
    nose_tip, chin = template.landmark_points[1], template.landmark_points[152]  # MediaPipe's indices
    assert nose_tip[2] > chin[2] and nose_tip[1] > chin[1]  # the nose in front of and above the chin
