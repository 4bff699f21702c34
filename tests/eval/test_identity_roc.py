"""The identity ROC's parts: the augmentations keep an RGB image, and the rates and the equal-error point
come out of known distances."""

import numpy as np
import pytest
from skimage import data

from backend.eval.identity_roc import AUGMENTS, THRESHOLDS, _rates, augment


@pytest.mark.parametrize("kind", AUGMENTS)
def test_every_augmentation_is_an_rgb_image_of_the_face(kind):
    out = augment(data.astronaut(), kind)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and min(out.shape[:2]) >= 200
    assert (kind == "original") == np.array_equal(out, data.astronaut())


def test_rates_and_equal_error_of_separable_and_overlapping_distances():
    sep = _rates([0.3, 0.35, 0.4], [0.7, 0.75])
    k = list(THRESHOLDS).index(0.5)
    assert sep["true_accept"][k] == 1.0 and sep["false_accept"][k] == 0.0 and sep["eer"]["rate"] == 0.0
    overlap = _rates([0.3, 0.5, 0.7], [0.4, 0.6, 0.8])
    assert 0.0 < overlap["eer"]["rate"] < 0.5 and overlap["impostor_min"] == 0.4
