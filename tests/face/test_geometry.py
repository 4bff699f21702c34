import numpy as np

from backend.face import FaceConfig, FacePreprocessor
from backend.face.canonical import DEFAULT_CANONICAL
from backend.face.geometry import (
    GEOMETRY_CHANNELS,
    crop_landmarks,
    face_triangles,
    geometry_channels,
    project_to_crop,
)


def test_face_mesh_triangles():
    tris = face_triangles()
    assert tris.shape[1] == 3 and 800 < tris.shape[0] < 900 and tris.max() == 467


def test_geometry_of_the_astronaut(astronaut_landmarks, template):
    # A crop of 128 px around her face: the mask covers her face, PNCC reads the template there.
    x0, y0 = astronaut_landmarks[:, 0].min() - 20, astronaut_landmarks[:, 1].min() - 20
    side = max(np.ptp(astronaut_landmarks[:, 0]), np.ptp(astronaut_landmarks[:, 1])) + 40
    matrix = np.array([[128 / side, 0, -x0 * 128 / side], [0, 128 / side, -y0 * 128 / side], [0, 0, 1]])
    lm = crop_landmarks(astronaut_landmarks, matrix)
    geo = geometry_channels(lm, template.points, 128, DEFAULT_CANONICAL.frame_span / 128)
    assert geo.shape == (GEOMETRY_CHANNELS, 128, 128) and geo.dtype == np.float32
    mask = geo[7] > 0
    assert 0.3 < mask.mean() < 0.9
    assert np.all(geo[:7, ~mask] == 0)
    # The pixel at the nose tip (landmark 1) reads (close to) the nose tip's canonical point.
    nx, ny = lm[1, :2].astype(int)
    assert np.linalg.norm(geo[:3, ny, nx] - template.points[1]) < 0.02
    # Normals are unit length and face the camera (z away from it is negative).
    n = geo[4:7, mask]
    assert np.allclose(np.linalg.norm(n, axis=0), 1.0, atol=1e-3) and (n[2] < 0).mean() > 0.95


def test_template_projected_with_the_solved_camera_lands_on_the_landmarks(astronaut):
    # A held frame's stand-in for landmarks: the template seen by the crop's camera falls where MediaPipe
    # put the face in that crop (within a few pixels at 128 px).
    with FacePreprocessor(astronaut, FaceConfig(smooth=False)) as pre:
        face = pre.process_frame(astronaut, 0)
        projected = project_to_crop(pre.template.points, face.cam2world, face.intrinsics, 128)
    seen = crop_landmarks(face.landmarks, face.crop_matrix) * (128 / face.crop.shape[0])
    error = np.linalg.norm(projected[:468, :2] - seen[:468, :2], axis=1)
    assert np.median(error) < 3.0
    assert np.corrcoef(projected[:468, 2], seen[:468, 2])[0, 1] > 0.9  # nearer points are nearer in both
