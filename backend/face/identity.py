"""Who a face is: dlib's 128-d face-recognition ResNet on a face aligned by dlib's 5-point model.

Both models are CC0 and ship in the `face-recognition-models` package (installed by `make setup`);
they are read from its folder, never downloaded. The package's 68-point model is trained on data
that is not licensed for commercial use and is never loaded. Two embeddings of one person are
typically closer than 0.6 (Euclidean), dlib's own threshold on LFW.
"""

import importlib.util
from pathlib import Path

import numpy as np

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
"""The face-recognition ResNet (128-d, CC0)."""
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"
"""The 5-point landmark model that aligns a face for it (CC0)."""
EMBEDDING_SIZE = 128
DLIB_SAME_PERSON = 0.6
"""dlib's documented same-person distance on LFW (a reference point, not a measured threshold)."""
IDENTITY_THRESHOLD = 0.59
"""The tracker's same-person threshold (`FaceConfig.identity_threshold`): the largest distance with no
false accept on real impostor pairs, measured by `headfuse eval --protocol identity` (`docs/identity_roc.md`:
true-accept rate 100 % on 108 real genuine pairs, false-accept 0 % on 243 real impostor pairs; synthetic heads
are not told apart at any useful threshold, 93 % false accepts at it)."""


class IdentityModelError(RuntimeError):
    """dlib or its model files are missing (one line saying how to install them)."""


def model_dir() -> Path:
    """The folder holding the model files of `face-recognition-models`, found without importing it (the
    package's `__init__` needs setuptools' `pkg_resources`)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityModelError(
            "face identity needs the face-recognition-models package: run `make setup` "
            "(or pip install --no-deps face-recognition-models==0.3.0)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceIdentity:
    """Face embeddings. Load once, embed many (about 0.2 s per face on two cores)."""

    def __init__(self, folder: Path | None = None):
        try:
            import dlib
        except ImportError as exc:
            raise IdentityModelError("face identity needs dlib: run `make setup` (or pip install dlib-bin)") from exc
        folder = Path(folder) if folder is not None else model_dir()
        for name in (RECOGNITION_MODEL, LANDMARK_MODEL):
            if not (folder / name).is_file():
                raise IdentityModelError(f"{folder / name}: model file not found (run `make setup`)")
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(folder / LANDMARK_MODEL))
        self._net = dlib.face_recognition_model_v1(str(folder / RECOGNITION_MODEL))

    def embed(self, image: np.ndarray, box) -> np.ndarray:
        """The identity of the face in `box` (x0, y0, x1, y1 source pixels, e.g. a MediaPipe face box) of
        RGB uint8 `image [H, W, 3]` -> unit-scale embedding `[128]` float32."""
        image = np.ascontiguousarray(image, dtype=np.uint8)
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        rect = self._dlib.rectangle(x0, y0, x1, y1)
        shape = self._shape(image, rect)
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two embeddings `[128]` (smaller: more alike)."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
