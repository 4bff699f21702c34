"""Projected textures on a sphere photographed through known cameras: what a camera sees comes back from
it, what no view sees keeps the field's colour, occluded and back-facing points take nothing, the
reference's exposure is matched to the frame's, held frames keep the last colours, and an image that
does not fit its camera is refused in one line."""

import math

import numpy as np
import pytest

from backend.mesh.projection import PhotoView, TextureBlender, TextureInputError, feathered, view_weights
from backend.mesh.raster import render_textured
from backend.mesh.uv import head_projection_uv
from backend.render.cameras import intrinsics_matrix, orbit_camera

SIZE = 192
GREEN = np.array([0.0, 1.0, 0.0], np.float32)


def sphere(radius=0.3, centre=(0.0, 0.0, 0.0), rings=48, segments=96):
    """A latitude-longitude sphere in box units with the head UV layout -> (verts, faces, uv, normals)."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    n = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1).reshape(-1, 3)
    n = np.concatenate([[[0, 1, 0]], n, [[0, -1, 0]]])
    ring = lambda i, j: 1 + i * segments + j % segments  # noqa: E731
    faces = [[0, ring(0, j + 1), ring(0, j)] for j in range(segments)]
    for i in range(rings - 2):
        for j in range(segments):
            faces += [[ring(i, j), ring(i, j + 1), ring(i + 1, j)]]
            faces += [[ring(i, j + 1), ring(i + 1, j + 1), ring(i + 1, j)]]
    last = n.shape[0] - 1
    faces += [[last, ring(rings - 2, j), ring(rings - 2, j + 1)] for j in range(segments)]
    verts = n * radius + np.asarray(centre)
    index, faces, uv = head_projection_uv(verts, np.asarray(faces), centre=centre)
    return verts[index], faces, uv, n[index]


def smooth_texture(size=256):
    """A texture with slow colour changes (so sampling does not alias)."""
    y, x = np.mgrid[0:size, 0:size] / size
    return (np.stack([0.5 + 0.4 * np.sin(4 * np.pi * x), 0.5 + 0.4 * np.cos(2 * np.pi * y), 0.3 + 0 * x], -1)
            * 255).astype(np.uint8)


def camera(yaw_deg):
    c2w = orbit_camera(math.radians(yaw_deg))[0].numpy().astype(np.float64)
    K = intrinsics_matrix().numpy().astype(np.float64)
    K[:2] *= SIZE
    return c2w, K


def photo(mesh, yaw_deg, gain=1.0, name="frame"):
    verts, faces, uv, _ = mesh
    c2w, K = camera(yaw_deg)
    image, mask = render_textured(verts, faces, uv, smooth_texture(), c2w, K, SIZE, SIZE)
    image = np.clip(image * gain, 0, 255).astype(np.uint8)
    return PhotoView(image, c2w, K, name), mask


def texture(blender, mesh, frame):
    verts, faces, uv, normals = mesh
    colours = np.tile(GREEN, (verts.shape[0], 1))
    return blender.texture(verts, faces, uv, normals, colours, 256, frame)


def seen_error(tex, mesh, view, mask):
    """Mean absolute difference (0..255) between the photo and the textured sphere rendered through the
    photo's camera, over the central part of what it sees (squarely facing)."""
    verts, faces, uv, _ = mesh
    back, _ = render_textured(verts, faces, uv, tex, view.cam2world, view.intrinsics, SIZE, SIZE)
    offset = np.mgrid[0:SIZE, 0:SIZE] - np.argwhere(mask).mean(0)[:, None, None]
    core = mask & (np.hypot(*offset) < 0.25 * mask.sum() ** 0.5)
    return float(np.abs(back[core].astype(float) - view.image[core]).mean())


def test_what_the_frame_sees_comes_back_from_its_camera_and_the_unseen_back_keeps_the_field_colour():
    mesh = sphere()
    frame, mask = photo(mesh, 0.0)
    tex, info = texture(TextureBlender(None), mesh, frame)
    assert seen_error(tex, mesh, frame, mask) < 6.0
    back, _ = photo(mesh, 180.0)
    rendered, seen = render_textured(mesh[0], mesh[1], mesh[2], tex, back.cam2world, back.intrinsics, SIZE, SIZE)
    centre = rendered[SIZE // 2 - 10:SIZE // 2 + 10, SIZE // 2 - 10:SIZE // 2 + 10].reshape(-1, 3)
    np.testing.assert_array_equal(centre, np.tile([0, 255, 0], (centre.shape[0], 1)))
    assert 0.1 < info["frame"] < 0.6 and info["reference"] == 0.0


def test_occluded_and_back_facing_points_take_no_colour_from_a_view():
    big, small = sphere(0.3), sphere(0.1, centre=(0.0, 0.0, 0.6))
    verts = np.concatenate([big[0], small[0]])
    faces = np.concatenate([big[1], small[1] + big[0].shape[0]])
    view, _ = photo(big, 0.0)
    s60 = math.sin(math.radians(60))
    points = np.array([[0, 0, 0.3], [0, 0.3 * s60, 0.15], [0, 0, -0.3], [0.3, 0, 0.0]])
    normals = points / 0.3
    from backend.mesh.projection import ProjectionConfig

    weight, xy = view_weights(verts, faces, points, normals, view, ProjectionConfig())
    assert weight[0] == 0.0, "hidden behind the small sphere"
    assert 0.0 < weight[1] < 1.0, "seen at 60 degrees: partial weight"
    assert weight[2] == 0.0 and weight[3] == 0.0, "back face and grazing"
    np.testing.assert_allclose(xy[0], [SIZE / 2, SIZE / 2], atol=1e-6)


def test_the_reference_fills_what_the_frame_does_not_see_with_its_exposure_matched_to_the_frame():
    mesh = sphere()
    frame, _ = photo(mesh, 0.0)
    reference, ref_mask = photo(mesh, 80.0, gain=0.7, name="the reference image")
    blender = TextureBlender(reference)
    for _ in range(8):
        tex, info = texture(blender, mesh, frame)
    np.testing.assert_allclose(info["gain"], 1 / 0.7, atol=0.08)
    assert info["reference"] > 0.05
    truth, _ = photo(mesh, 80.0)  # the reference as the frame would have exposed it
    assert seen_error(tex, mesh, truth, ref_mask) < 10.0


def test_a_held_frame_keeps_the_last_frames_colours_and_repeated_frames_do_not_flicker():
    mesh = sphere()
    frame, _ = photo(mesh, 20.0)
    blender = TextureBlender(None)
    first, _ = texture(blender, mesh, frame)
    second, _ = texture(blender, mesh, frame)
    held, info = texture(blender, mesh, None)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(held, second)
    assert info["frame"] > 0.1
    fresh, info = texture(TextureBlender(None), mesh, None)
    assert info["frame"] == 0.0 and (fresh.reshape(-1, 3) == [0, 255, 0]).all()


def test_feathering_ramps_weights_to_zero_towards_what_a_view_does_not_see():
    weight = np.zeros((40, 40), np.float32)
    weight[:, :20] = 1.0
    ramp = feathered(weight, np.ones((40, 40), bool), 5.0)
    row = ramp[20]
    assert row[0] == 1.0 and row[14] == 1.0 and 0 < row[19] < row[17] < 1.0 and row[20] == 0.0
    uncovered = np.ones((40, 40), bool)
    uncovered[:, 20:] = False  # no mesh there: not an edge of the view
    np.testing.assert_array_equal(feathered(weight, uncovered, 5.0), weight)


def test_an_image_that_does_not_fit_its_camera_is_refused_in_one_line():
    mesh = sphere()
    frame, _ = photo(mesh, 0.0, name="frame 7 of clip.mp4")
    small = PhotoView(frame.image[:60, :60], frame.cam2world, frame.intrinsics, frame.name)
    with pytest.raises(TextureInputError, match=r"^frame 7 of clip.mp4: the image is 60x60 but") as err:
        texture(TextureBlender(None), mesh, small)
    assert "\n" not in str(err.value)
