"""dlib's face identity from the packaged CC0 models: one person (a photo and its mirror image) is near,
two people are far, and the 68-point model is never what it loads."""

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image
from skimage import data

from backend.face import identity as ident
from backend.face.detect import FaceDetector


@pytest.fixture(scope="module")
def faces():
    hopper_file = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    hopper = np.asarray(Image.open(hopper_file).convert("RGB"))
    astronaut = data.astronaut()
    images = {"astronaut": astronaut, "mirrored": np.ascontiguousarray(astronaut[:, ::-1]), "hopper": hopper}
    with FaceDetector() as detector:
        return {k: (im, detector.detect(im)[0].as_array()) for k, im in images.items()}


def test_one_person_is_near_and_two_people_are_far(faces):
    model = ident.FaceIdentity()
    e = {k: model.embed(im, box) for k, (im, box) in faces.items()}
    assert e["astronaut"].shape == (ident.EMBEDDING_SIZE,)
    same = ident.identity_distance(e["astronaut"], e["mirrored"])
    other = ident.identity_distance(e["astronaut"], e["hopper"])
    assert same < ident.DLIB_SAME_PERSON < other, (same, other)


def test_only_the_cc0_models_are_loaded_and_a_missing_file_is_one_line(tmp_path):
    assert {ident.RECOGNITION_MODEL, ident.LANDMARK_MODEL} <= {p.name for p in ident.model_dir().iterdir()}
    assert "68" not in ident.RECOGNITION_MODEL + ident.LANDMARK_MODEL
    with pytest.raises(ident.IdentityModelError, match="model file not found") as err:
        ident.FaceIdentity(tmp_path)
    assert "\n" not in str(err.value)
