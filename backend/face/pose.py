"""Head pose per frame as a camera in the canonical head frame defined by the reference image.

1. `build_template`: the reference image's landmarks (x, y and MediaPipe's relative z, in pixels)
   become a personalised 3D template in the canonical frame: image axes -> world (x right, y up,
   z towards the camera), the roll and yaw of the reference removed by turning the line between the
   subject's left and right features (eye corners, mouth corners, cheeks) onto +x, then scaled and
   placed by the `CanonicalFace` constants (eye distance, eye midpoint). Pitch is the reference's
   own: the canonical frame's "level" is the reference camera's.
2. `solve_pose`: PnP of a frame's 2D landmarks against the template's rigid points (forehead, nose,
   eye corners, cheekbones: no lips, jaw, eyelids or brows, which move with expression) with the
   source camera's intrinsics -> rotation and translation of the head in the source camera.
3. `view_from_pose`: the six numbers that describe the frame and that smoothing works on: the
   canonical camera's yaw, pitch, roll and the crop window (pivot image, crop side). The source
   camera turned to look straight at the pivot is the "virtual" camera; the canonical camera is
   it moved along its axis to the canonical radius, with the canonical focal. `pose_from_view` is
   the exact inverse, so smoothed views give a consistent source camera for the plate.
"""

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..render.cameras import intrinsics_matrix, orbit_camera
from .canonical import DEFAULT_CANONICAL, CanonicalFace

RIGHT_EYE_CORNERS = (33, 133)
"""Subject's right eye (image left in a frontal view): outer, inner corner."""
LEFT_EYE_CORNERS = (263, 362)
"""Subject's left eye: outer, inner corner."""
LEFT_RIGHT_PAIRS = ((263, 33), (362, 133), (291, 61), (454, 234))
"""(left, right) landmark pairs: eye corners, mouth corners, cheeks; they define the template's x axis."""
NOSE_BOTTOM = 2
MOUTH_CORNERS = (61, 291)


@dataclass
class FaceTemplate:
    """A personalised 3D landmark template in the canonical frame."""

    points: np.ndarray
    """`[478, 3]` float64 landmarks in box units, canonical frame (y up, face towards +z)."""
    rigid: np.ndarray
    """`[K]` int indices of the landmarks used for PnP."""
    canonical: CanonicalFace
    """The placement constants the template was built with."""


@dataclass
class HeadPose:
    """The head in the source camera: x_cam = rotation @ x_canonical + translation (box units)."""

    rotation: np.ndarray
    """`[3, 3]` float64 canonical frame -> source camera (OpenCV axes)."""
    translation: np.ndarray
    """`[3]` float64, box units."""
    reprojection_error: float = 0.0
    """RMS distance (pixels) between the landmarks and the template's rigid points projected with this pose."""

    def cam2world(self) -> np.ndarray:
        """The source camera in the canonical frame: `[4, 4]` float64 cam2world (box units)."""
        c2w = np.eye(4)
        c2w[:3, :3] = self.rotation.T
        c2w[:3, 3] = -self.rotation.T @ self.translation
        return c2w


@dataclass
class View:
    """What smoothing works on: the canonical camera's angles and the crop window in the source frame."""

    yaw: float
    """Radians; positive: the camera sees the head's +x side (the subject's left)."""
    pitch: float
    """Radians; positive: the camera looks down on the head."""
    roll: float
    """Radians, about the viewing axis (as `render.cameras.orbit_camera`)."""
    centre: np.ndarray
    """`[2]` the pivot's image in the source frame (pixels)."""
    side: float
    """Side of the crop window in source pixels."""


def _rigid_indices(points: np.ndarray) -> np.ndarray:
    import mediapipe as mp

    conn = mp.solutions.face_mesh_connections
    moving = set()
    for edges in (
        conn.FACEMESH_LIPS,
        conn.FACEMESH_LEFT_EYE,
        conn.FACEMESH_RIGHT_EYE,
        conn.FACEMESH_LEFT_EYEBROW,
        conn.FACEMESH_RIGHT_EYEBROW,
    ):
        for a, b in edges:
            moving.update((a, b))
    moving -= set(RIGHT_EYE_CORNERS + LEFT_EYE_CORNERS)
    lowest = 0.5 * (points[NOSE_BOTTOM, 1] + points[list(MOUTH_CORNERS), 1].mean())
    return np.array([i for i in range(468) if i not in moving and points[i, 1] > lowest], dtype=np.int64)


def build_template(landmarks: np.ndarray, canonical: CanonicalFace = DEFAULT_CANONICAL) -> FaceTemplate:
    """3D template from the reference image's landmarks `[478, 3]` (pixels: x, y, relative z)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (478, 3):
        raise ValueError(f"build_template expects face-mesh landmarks [478, 3], got {landmarks.shape}")
    world = landmarks * np.array([1.0, -1.0, -1.0])  # image (x right, y down, z away) -> x right, y up, z to camera
    x_axis = sum(world[left] - world[right] for left, right in LEFT_RIGHT_PAIRS)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.array([0.0, 1.0, 0.0]) - x_axis[1] * x_axis
    y_axis /= np.linalg.norm(y_axis)
    basis = np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=1)  # columns: template axes in `world`
    right_eye = world[list(RIGHT_EYE_CORNERS)].mean(0)
    left_eye = world[list(LEFT_EYE_CORNERS)].mean(0)
    scale = canonical.interocular / np.linalg.norm(left_eye - right_eye)
    points = (world - 0.5 * (left_eye + right_eye)) @ basis * scale + np.asarray(canonical.eye_midpoint)
    return FaceTemplate(points, _rigid_indices(points), canonical)


def source_intrinsics(width: int, height: int, focal_px: float | None = None, focal_factor: float = 1.0) -> np.ndarray:
    """Pinhole intrinsics `[3, 3]` in pixels for a `width x height` frame (principal point at the centre).

    `focal_px` overrides the guess `focal_factor x max(width, height)`.
    """
    f = float(focal_px) if focal_px is not None else focal_factor * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def project(template_points: np.ndarray, pose: HeadPose, K: np.ndarray) -> np.ndarray:
    """Project canonical points `[N, 3]` with `pose` and pixel intrinsics `K [3, 3]` -> pixels `[N, 2]`."""
    cam = template_points @ pose.rotation.T + pose.translation
    uv = cam @ K.T
    return uv[:, :2] / uv[:, 2:3]


def solve_pose(
    template: FaceTemplate, landmarks: np.ndarray, K: np.ndarray, guess: HeadPose | None = None
) -> HeadPose | None:
    """Head pose from a frame's landmarks `[478, 2+]` (pixels) and intrinsics `K [3, 3]`; None if PnP fails.

    `guess` (the previous frame's pose) seeds the iterative solver; without it SQPnP finds the global
    optimum. Both are refined with Levenberg-Marquardt.
    """
    obj = np.ascontiguousarray(template.points[template.rigid], dtype=np.float64)
    img = np.ascontiguousarray(np.asarray(landmarks, dtype=np.float64)[template.rigid, :2])
    K = np.asarray(K, dtype=np.float64)
    if guess is not None:
        rvec0 = cv2.Rodrigues(guess.rotation)[0]
        ok, rvec, tvec = cv2.solvePnP(
            obj, img, K, None, rvec0, guess.translation.reshape(3, 1).copy(), True, cv2.SOLVEPNP_ITERATIVE
        )
    else:
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
        return None
    rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, None, rvec, tvec)
    pose = HeadPose(cv2.Rodrigues(rvec)[0], tvec.reshape(3))
    if pose.translation[2] <= 0:
        return None
    pose.reprojection_error = float(np.sqrt(np.mean(np.sum((project(obj, pose, K) - img) ** 2, axis=1))))
    return pose


def _align_to_axis(ray: np.ndarray) -> np.ndarray:
    """The smallest rotation `[3, 3]` taking the unit vector `ray` to +z."""
    axis = np.cross(ray, [0.0, 0.0, 1.0])
    s, c = np.linalg.norm(axis), float(ray[2])
    if s < 1e-12:
        return np.eye(3)
    return cv2.Rodrigues(axis / s * math.atan2(s, c))[0]


def _orbit_rotation(yaw: float, pitch: float, roll: float, canonical: CanonicalFace) -> np.ndarray:
    c2w = orbit_camera(yaw, pitch, canonical.radius, canonical.pivot, roll)[0]
    return c2w[:3, :3].double().numpy()


def view_from_pose(pose: HeadPose, K: np.ndarray, canonical: CanonicalFace = DEFAULT_CANONICAL) -> View:
    """The frame's `View` from the head pose in the source camera and the source intrinsics `K [3, 3]` (pixels)."""
    pivot_cam = pose.rotation @ np.asarray(canonical.pivot) + pose.translation
    depth = float(pivot_cam[2])
    uv = K @ pivot_cam
    centre = uv[:2] / uv[2]
    side = canonical.frame_span * float(K[0, 0]) / depth
    ray = pivot_cam / np.linalg.norm(pivot_cam)
    virtual = pose.rotation.T @ _align_to_axis(ray).T  # c2w rotation of the source camera turned to the pivot
    to_camera = -virtual[:, 2]
    yaw = math.atan2(to_camera[0], to_camera[2])
    pitch = math.asin(float(np.clip(to_camera[1], -1.0, 1.0)))
    rz = _orbit_rotation(yaw, pitch, 0.0, canonical).T @ virtual
    roll = math.atan2(rz[1, 0], rz[0, 0])
    return View(yaw, pitch, roll, centre, side)


def pose_from_view(view: View, K: np.ndarray, canonical: CanonicalFace = DEFAULT_CANONICAL) -> HeadPose:
    """The head pose in the source camera that `view` describes (the inverse of `view_from_pose`)."""
    depth = canonical.frame_span * float(K[0, 0]) / view.side
    pivot_cam = depth * (np.linalg.inv(K) @ np.array([view.centre[0], view.centre[1], 1.0]))
    distance = float(np.linalg.norm(pivot_cam))
    virtual = _orbit_rotation(view.yaw, view.pitch, view.roll, canonical)
    c2w_rot = virtual @ _align_to_axis(pivot_cam / distance)
    position = np.asarray(canonical.pivot) - distance * virtual[:, 2]
    rotation = c2w_rot.T
    return HeadPose(rotation, -rotation @ position)


def canonical_camera(view: View, canonical: CanonicalFace = DEFAULT_CANONICAL) -> tuple[np.ndarray, np.ndarray]:
    """The canonical camera of a view: cam2world `[4, 4]` and normalized intrinsics `[3, 3]` (float32)."""
    c2w = orbit_camera(view.yaw, view.pitch, canonical.radius, canonical.pivot, view.roll)[0].numpy()
    return c2w.astype(np.float32), intrinsics_matrix(canonical.focal).numpy().astype(np.float32)
