"""The CPU rasterizer: coverage against a brute-force inside test, the z-buffer's nearest surface,
projection and texture lookup, and an unlit render that gives back its texture."""

import numpy as np

from backend.mesh.raster import (
    camera_raster,
    project,
    rasterize_triangles,
    render_textured,
    sample_bilinear,
    zbuffer,
)


def _inside(p, tri):
    """Brute force: is the point p [2] inside (or on) triangle tri [3, 2]?"""
    def cross(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d = [cross(tri[i], tri[(i + 1) % 3], p) for i in range(3)]
    return all(x >= -1e-9 for x in d) or all(x <= 1e-9 for x in d)


def test_coverage_matches_a_brute_force_inside_test_and_barycentrics_rebuild_the_pixel_centre():
    rng = np.random.default_rng(0)
    points = rng.uniform(-2, 14, size=(12, 2))
    faces = rng.choice(12, size=(8, 3), replace=True)
    faces = faces[np.array([len(set(f)) == 3 for f in faces])]
    pixel, face, bary = rasterize_triangles(points, faces, 12, 10)
    got = {(int(r), int(c), int(f)) for (r, c), f in zip(pixel, face, strict=True)}
    want = {
        (r, c, f) for f in range(faces.shape[0]) for r in range(10) for c in range(12)
        if _inside((c + 0.5, r + 0.5), points[faces[f]])
    }
    assert got == want
    centre = np.einsum("kj,kjd->kd", bary, points[faces[face]])
    np.testing.assert_allclose(centre, pixel[:, ::-1] + 0.5, atol=1e-9)


def test_zbuffer_keeps_the_nearest_surface_whatever_the_order():
    quad = np.array([[0, 0], [8, 0], [8, 8], [0, 8]], float)
    points = np.concatenate([quad, quad + 4])  # two squares overlapping on [4, 8]^2
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    for near_first in (True, False):
        depth = np.array([1.0] * 4 + [2.0] * 4) if near_first else np.array([2.0] * 4 + [1.0] * 4)
        r = zbuffer(points, depth, faces, 12, 12)
        near = {0, 1} if near_first else {2, 3}
        assert set(np.unique(r.face[5:7, 5:7])) <= near
        assert np.all(r.depth[5:7, 5:7] == 1.0)
        assert not r.mask[0:4, 9:12].any() and r.mask[10, 10] and r.mask[1, 1]


def test_project_puts_the_optical_axis_on_the_principal_point():
    cam = np.eye(4)
    cam[:3, 3] = [0.1, -0.2, -3.0]
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    xy, z = project(np.array([[0.1, -0.2, 0.0], [0.4, -0.2, 0.0]]), cam, K)
    np.testing.assert_allclose(xy[0], [320, 240])
    np.testing.assert_allclose(xy[1], [320 + 500 * 0.3 / 3.0, 240])
    np.testing.assert_allclose(z, [3.0, 3.0])


def test_bilinear_lookup_hits_pixel_centres_and_averages_between_them():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 10
    got = sample_bilinear(image, np.array([[0.5, 0.5], [2.5, 1.5], [1.0, 0.5], [1.5, 1.0]]))
    np.testing.assert_allclose(got[:, 0], [0, 60, 5, 30])


def test_a_textured_square_facing_the_camera_renders_its_texture():
    verts = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)  # OpenCV: y down
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0]], float)  # image top (y = -1) is v = 1
    texture = np.zeros((64, 64, 3), np.uint8)
    texture[:, :32] = (255, 0, 0)
    texture[:32, 32:] = (0, 0, 255)
    texture[32:, 32:] = (0, 255, 0)
    cam = np.eye(4)
    cam[2, 3] = -2.0
    K = np.array([[32.0, 0, 32], [0, 32.0, 32], [0, 0, 1]])
    image, mask = render_textured(verts, faces, uv, texture, cam, K, 64, 64)
    assert mask[20:44, 20:44].all() and not mask[:10].any()
    np.testing.assert_array_equal(image[30, 20], [255, 0, 0])
    np.testing.assert_array_equal(image[20, 40], [0, 0, 255])
    np.testing.assert_array_equal(image[40, 40], [0, 255, 0])
    np.testing.assert_array_equal(image[2, 2], [128, 128, 128])
    away = np.eye(4)
    away[2, 3] = 2.0  # past the square, looking on along +z: the square is behind it
    assert not camera_raster(verts, faces, away, K, 64, 64).mask.any()
