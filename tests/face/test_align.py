"""The alignment crop: matrix conventions and resampling (magnified and minified)."""

import numpy as np
import pytest

from backend.face.align import align_crop, crop_matrix, warp_similarity


def test_crop_matrix_maps_the_window_onto_the_crop():
    m = crop_matrix((300.0, 200.0), 150.0, 64)
    corners = np.array([[225.0, 125.0, 1.0], [375.0, 275.0, 1.0], [300.0, 200.0, 1.0]]) @ m.T
    assert corners[:, :2] == pytest.approx(np.array([[0.0, 0.0], [64.0, 64.0], [32.0, 32.0]]))


@pytest.mark.parametrize("side", [40.0, 300.0])  # magnified, and minified (area-averaged path)
def test_resampling_follows_the_matrix(side):
    h, w = 400, 600
    yy, xx = np.mgrid[0:h, 0:w] + 0.5  # continuous coordinates of pixel centres
    image = np.stack([xx * 0.4, yy * 0.6, np.full_like(xx, 77.0)], -1).astype(np.uint8)
    centre = (310.3, 190.7)
    crop = align_crop(image, centre, side, 64)
    assert crop.image.shape == (64, 64, 3) and crop.image.dtype == np.uint8
    cy, cx = np.mgrid[0:64, 0:64] + 0.5
    back = np.stack([cx, cy, np.ones_like(cx)], -1) @ np.linalg.inv(crop.matrix).T
    assert np.abs(crop.image[..., 0] - back[..., 0] * 0.4).max() <= 1.5
    assert np.abs(crop.image[..., 1] - back[..., 1] * 0.6).max() <= 1.5
    assert np.all(crop.image[..., 2] == 77)


def test_outside_the_frame_is_filled():
    image = np.full((50, 50, 3), 200, np.uint8)
    matrix = crop_matrix((0.0, 0.0), 50.0, 32)
    assert warp_similarity(image, matrix, 32, "constant")[0, 0].tolist() == [0, 0, 0]
    assert warp_similarity(image, matrix, 32, "replicate")[0, 0].tolist() == [200, 200, 200]
    with pytest.raises(ValueError, match="RGB"):
        align_crop(np.zeros((10, 10), np.uint8), (5, 5), 5.0, 8)
