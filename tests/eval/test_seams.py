"""The seam measurement finds a jump at a chunk start and none in a smooth walk."""

import numpy as np
import pytest

from backend.eval.seams import seam_variation


def test_seam_variation_finds_a_jump_at_a_chunk_start():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(0, 0.01, (12, 3, 2, 4, 4)), axis=0)
    smooth = seam_variation(list(walk), [4, 8])
    assert 0.5 < smooth["ratio"] < 1.5
    walk[8:] += 0.05  # a visible jump where the third chunk starts
    jumpy = seam_variation(list(walk), [4, 8])
    assert jumpy["ratio"] > 2 * smooth["ratio"] and jumpy["within"] == pytest.approx(smooth["within"])
