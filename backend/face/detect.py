"""MediaPipe face detection and the 478-point face mesh (offline: the wheel ships the models).

`FaceDetector` keeps its MediaPipe graphs alive across frames; close it (or use `with`) when done.
Landmarks come out in source pixels: x, y continuous pixel coordinates, z MediaPipe's relative depth
(smaller is nearer the camera) on the same pixel scale.
"""

import warnings

import numpy as np

from backend.native_logs import native_stderr_silenced

from .align import crop_matrix, warp_similarity
from .track import FaceBox

N_LANDMARKS = 478


def _mediapipe():
    import mediapipe as mp

    # mediapipe 0.10.14 calls a protobuf API that protobuf 4 deprecates, once per graph run: not ours to fix
    warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
    return mp.solutions


def _check_image(image: np.ndarray) -> np.ndarray:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got {got}")
    return np.ascontiguousarray(image)


class FaceDetector:
    """Face boxes (short-range model, full-range fallback for small / far faces) and face-mesh landmarks.

    The mesh runs on a square window around a given face box, resampled to `mesh_input_size`
    pixels, so it sees only that face, large enough, whatever the frame size.
    """

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_mesh_confidence: float = 0.5,
        mesh_tracking: bool = False,
        mesh_input_size: int = 256,
        mesh_crop_scale: float = 2.0,
        mesh_max_faces: int = 2,
    ):
        solutions = _mediapipe()
        self.mesh_input_size, self.mesh_crop_scale = mesh_input_size, mesh_crop_scale
        with native_stderr_silenced():  # the graphs start and run once on a blank image: their notices go
            self._short = solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=min_detection_confidence
            )
            self._full = solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=min_detection_confidence
            )
            self._mesh = solutions.face_mesh.FaceMesh(
                static_image_mode=not mesh_tracking,
                max_num_faces=mesh_max_faces,
                refine_landmarks=True,
                min_detection_confidence=min_mesh_confidence,
                min_tracking_confidence=min_mesh_confidence,
            )
            self._graphs = (self._short, self._full, self._mesh)
            blank = np.zeros((64, 64, 3), np.uint8)
            for graph in self._graphs:
                graph.process(blank)  # finds nothing, so a tracking mesh starts with nothing to track

    def detect(self, image: np.ndarray, full_range: bool = False) -> list[FaceBox]:
        """Face boxes in `image [H, W, 3]` RGB uint8 (pixels). The short-range model first, the full-range
        one when it finds nothing; `full_range=True` runs only the full-range model."""
        image = _check_image(image)
        models = [self._full] if full_range else [self._short, self._full]
        height, width = image.shape[:2]
        for model in models:
            result = model.process(image)
            if result.detections:
                boxes = []
                for det in result.detections:
                    rel = det.location_data.relative_bounding_box
                    boxes.append(
                        FaceBox(
                            rel.xmin * width,
                            rel.ymin * height,
                            (rel.xmin + rel.width) * width,
                            (rel.ymin + rel.height) * height,
                            float(det.score[0]),
                        )
                    )
                return boxes
        return []

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray | None:
        """The face mesh of the face in `box`: `[478, 3]` float32 source pixels (x, y, relative z), or None.

        Of the faces the mesh finds in the window around `box`, the one nearest the window centre wins.
        """
        image = _check_image(image)
        size = self.mesh_input_size
        side = self.mesh_crop_scale * max(box.x1 - box.x0, box.y1 - box.y0, 1.0)
        matrix = crop_matrix(box.centre, side, size)
        window = warp_similarity(image, matrix, size, border="constant")
        result = self._mesh.process(window)
        if not result.multi_face_landmarks:
            return None
        faces = [
            np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64) * size
            for face in result.multi_face_landmarks
        ]
        best = min(faces, key=lambda f: float(np.linalg.norm(f[:, :2].mean(0) - size / 2.0)))
        scale = matrix[0, 0]
        out = np.empty((N_LANDMARKS, 3), dtype=np.float32)
        out[:, 0] = (best[:, 0] - matrix[0, 2]) / scale
        out[:, 1] = (best[:, 1] - matrix[1, 2]) / scale
        out[:, 2] = best[:, 2] / scale
        return out

    def close(self) -> None:
        """Release the MediaPipe graphs (a second call does nothing)."""
        if self._graphs:
            for graph in self._graphs:
                graph.close()
            self._graphs = ()

    def __enter__(self) -> "FaceDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
