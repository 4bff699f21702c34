"""One entry point for step 1 of the method: frames in, aligned crops and canonical cameras out.

`FacePreprocessor(reference, cfg).process(frames)` yields one `FaceResult` per input frame, in
order. Per frame: shot cuts (`shots`), detect faces, follow the reference person (`track`, with
`identity` checking who each face is), 478 landmarks (`detect`), PnP against the reference's template
(`pose`), One Euro smoothing of the view (`smooth`), then the canonical camera and the alignment crop
(`align`).

Who is followed (`FaceConfig.identity`): a face is taken up only when dlib's identity distance to the
reference is at most `identity_threshold`, among the frame's faces the nearest to the reference (not the
largest), and a followed face is checked again every `identity_every` frames. A frame where only other
people are seen is `skipped` with the reason `another person`; it is never held. A cut starts a new shot:
tracking, smoothing and the held view start afresh, so a hold never bridges a cut.

No-face policy (`FaceConfig.no_face`): a frame without the followed face (or whose pose cannot be
solved) is never an error. Under `hold` it reuses the last good view (pose and crop window, applied
to the current image) for up to `hold_max_frames` frames, status `held`; beyond that, and always
under `skip`, it is reported with status `skipped`, the reason, and no crop or camera. A frame the
decoder could not read is `skipped` with the decoder's reason.
"""

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..video import Frame, read_image
from .align import align_crop
from .canonical import DEFAULT_CANONICAL, CanonicalFace
from .config import FaceConfig
from .detect import FaceDetector
from .pose import (
    FaceTemplate,
    HeadPose,
    View,
    build_template,
    canonical_camera,
    pose_from_view,
    solve_pose,
    source_intrinsics,
    view_from_pose,
)
from .shots import ShotDetector
from .smooth import ViewSmoother
from .track import FaceBox, FaceTracker


def skip_kind(reason: str | None) -> str:
    """Which case a held or skipped frame's reason is: `another person`, `shot cut`, `no face` or `other`
    (a decoding error, an unsolvable pose)."""
    reason = reason or ""
    if reason.startswith("shot cut"):
        return "shot cut"
    if reason.startswith("another person"):
        return "another person"
    return "no face" if "no face" in reason or "landmarks" in reason else "other"


class NoFaceError(ValueError):
    """The reference image shows no face (or none whose pose can be solved)."""


@dataclass
class FaceResult:
    """Step-1 output for one frame. Arrays are None when `status` is `skipped`, but for `image` when the
    frame decoded (a frame without a usable face still has a plate)."""

    index: int
    """Index of the frame in the source."""
    status: str
    """`ok` (face found), `held` (no face: the last good view reused) or `skipped` (see `reason`)."""
    reason: str | None
    """Why the frame is held or skipped; None when ok."""
    crop: np.ndarray | None = None
    """Aligned crop, RGB uint8 `[S, S, 3]`."""
    image: np.ndarray | None = None
    """The source frame itself, RGB uint8 `[H, W, 3]` at full size (what projected textures read)."""
    cam2world: np.ndarray | None = None
    """Canonical camera `[4, 4]` float32 (radius / pivot of the `CanonicalFace`, box units)."""
    intrinsics: np.ndarray | None = None
    """Canonical normalized intrinsics `[3, 3]` float32."""
    crop_matrix: np.ndarray | None = None
    """`[3, 3]` float64: source pixel (x, y, 1) -> crop pixel (x, y, 1)."""
    source_intrinsics: np.ndarray | None = None
    """The plate's camera `[3, 3]` in pixels (focal guessed unless given in the config)."""
    source_cam2world: np.ndarray | None = None
    """The plate's camera in the canonical head frame `[4, 4]` float64 (box units), from the smoothed view."""
    landmarks: np.ndarray | None = None
    """The 478 face-mesh landmarks `[478, 3]` float32 in source pixels (x, y, relative z); None unless ok."""
    box: np.ndarray | None = None
    """Box of the followed face `[4]` float32 (x0, y0, x1, y1 source pixels); None unless ok."""
    yaw: float | None = None
    """Canonical camera yaw (radians), as `render.cameras.orbit_camera`."""
    pitch: float | None = None
    """Canonical camera pitch (radians)."""
    roll: float | None = None
    """Canonical camera roll (radians)."""
    reprojection_error: float | None = None
    """RMS landmark reprojection error of the solved pose in source pixels (ok frames)."""
    cut: bool = False
    """The frame starts a new shot (the first frame of a clip does too)."""
    identity_distance: float | None = None
    """dlib's distance of the followed face to the reference when it was checked on this frame."""
    identity_ms: float = 0.0
    """Milliseconds this frame spent on identity checks (most frames spend none)."""
    view: View | None = None
    """The smoothed view (angles, crop centre and side) its crop and cameras were made from."""

    @property
    def usable(self) -> bool:
        """True when the frame has a crop and a camera (`ok` or `held`)."""
        return self.status in ("ok", "held")


class FacePreprocessor:
    """Face preprocessing of one clip against its reference image. Close it (or use `with`) when done.

    `reference`: a path or an RGB uint8 image `[H, W, 3]` of the same person, near-frontal; its
    landmarks define the canonical frame. `reference_result` is the reference's own `FaceResult`
    (crop and camera, unsmoothed). Raises `NoFaceError` naming the file when it shows no face.
    """

    def __init__(
        self,
        reference: str | Path | np.ndarray,
        cfg: FaceConfig | None = None,
        canonical: CanonicalFace = DEFAULT_CANONICAL,
        fps: float | None = None,
        reference_name: str | None = None,
    ):
        self.cfg = cfg or FaceConfig()
        self.canonical = canonical
        self.fps = fps or self.cfg.default_fps
        self._detector = self._make_detector(tracking=self.cfg.mesh_tracking)
        self._tracker = FaceTracker(self.cfg.track_min_iou, self.cfg.track_max_lost)
        self._smoother = ViewSmoother(self.cfg.smooth_min_cutoff, self.cfg.smooth_beta_pose, self.cfg.smooth_beta_crop)
        self._shots = ShotDetector(self.cfg.shot_min_change)
        self._identity = None
        if self.cfg.identity:
            from .identity import FaceIdentity

            self._identity = FaceIdentity()
        try:
            self.set_reference(reference, reference_name)
        except BaseException:
            self.close()
            raise

    def set_reference(self, reference: str | Path | np.ndarray, name: str | None = None) -> None:
        """Make `reference` (a path or an RGB uint8 image `[H, W, 3]`; `name`: what messages call it) the
        clip's reference: its template defines the canonical frame from now on, and tracking starts afresh.
        Raises `NoFaceError`. Cheaper than a new preprocessor (the MediaPipe graphs stay loaded)."""
        if name is None:
            name = str(reference) if isinstance(reference, str | Path) else "the reference image"
        image = read_image(reference) if isinstance(reference, str | Path) else reference
        if self.cfg.mesh_tracking:
            with self._make_detector(tracking=False) as detector:
                landmarks, box = self._reference_landmarks(detector, image)
        else:
            landmarks, box = self._reference_landmarks(self._detector, image)
        if landmarks is None:
            raise NoFaceError(f"{name}: no face found in the reference image (it must show one near-frontal face)")
        self.template: FaceTemplate = build_template(landmarks, self.canonical)
        K = self._intrinsics(image)
        pose = solve_pose(self.template, landmarks, K)
        if pose is None:
            raise NoFaceError(f"{name}: the reference face's pose cannot be solved")
        self.reference_result = self._result(0, "ok", None, image, view_from_pose(pose, K, self.canonical), K)
        self.reference_result.landmarks = landmarks
        self.reference_result.box = FaceBox.from_landmarks(landmarks).as_array()
        self.reference_result.reprojection_error = pose.reprojection_error
        self._reference_identity = self._identity.embed(image, box.as_array()) if self._identity else None
        self.reset()

    def _reference_landmarks(self, detector: FaceDetector, image: np.ndarray) -> tuple[np.ndarray | None, FaceBox]:
        """Landmarks `[478, 3]` of the reference's one face (the largest / most central of several) or None,
        and its detection box."""
        box = FaceTracker(self.cfg.track_min_iou, self.cfg.track_max_lost).match(
            detector.detect(image), image.shape[1], image.shape[0]
        )
        return (detector.landmarks(image, box) if box is not None else None), box

    def _make_detector(self, tracking: bool) -> FaceDetector:
        cfg = self.cfg
        return FaceDetector(
            cfg.min_detection_confidence,
            cfg.min_mesh_confidence,
            tracking,
            cfg.mesh_input_size,
            cfg.mesh_crop_scale,
        )

    def _intrinsics(self, image: np.ndarray) -> np.ndarray:
        return source_intrinsics(image.shape[1], image.shape[0], self.cfg.source_focal_px, self.cfg.source_focal_factor)

    def reset(self) -> None:
        """Start the clip afresh: shots from 0, and what `new_shot` forgets."""
        self._shots.reset()
        self.new_shot()

    def new_shot(self) -> None:
        """A cut: forget the followed face, its identity check, the smoothing history and the held view."""
        self._tracker.reset()
        self._smoother.reset()
        self._last_pose: HeadPose | None = None
        self._last_view: View | None = None
        self._last_index: int | None = None
        self._held = 0
        self._checked_at: int | None = None  # frame of the last identity check the followed face passed
        self._rejected: tuple[list[FaceBox], float, int] | None = None  # faces found not her: boxes, distance, frame

    def _result(self, index: int, status: str, reason: str | None, image: np.ndarray, view: View, K) -> FaceResult:
        crop = align_crop(image, view.centre, view.side, self.cfg.crop_size, self.cfg.crop_border)
        cam2world, intrinsics = canonical_camera(view, self.canonical)
        return FaceResult(
            index,
            status,
            reason,
            crop=crop.image,
            image=image,
            cam2world=cam2world,
            intrinsics=intrinsics,
            crop_matrix=crop.matrix,
            source_intrinsics=K,
            source_cam2world=pose_from_view(view, K, self.canonical).cam2world(),
            yaw=view.yaw,
            pitch=view.pitch,
            roll=view.roll,
            view=view,
        )

    def _detect(self, image: np.ndarray) -> list[FaceBox]:
        boxes = self._detector.detect(image)
        return boxes or self._detector.detect(image, full_range=True)

    def _find(self, image: np.ndarray, index: int) -> tuple[np.ndarray | None, str, float | None]:
        """Landmarks `[478, 3]` of the followed face, or None and the reason; and the identity distance when
        the face was checked on this frame."""
        height, width = image.shape[:2]
        boxes = self._detect(image)
        due = self._identity is not None and (
            self._checked_at is None or self._tracker.box is None or index - self._checked_at >= self.cfg.identity_every
        )
        distance = None
        if due and boxes and self._still_rejected(boxes, index):
            distance = self._rejected[1]
            return None, (
                f"another person (identity distance {distance:.2f} to the reference, more than "
                f"{self.cfg.identity_threshold:.2f})"
            ), None
        if due and boxes:
            box, distance = self._reference_person(image, boxes)
            if box is None:
                self._tracker.reset()
                self._checked_at = None
                self._rejected = (boxes, distance, index)
                return None, (
                    f"another person (identity distance {distance:.2f} to the reference, more than "
                    f"{self.cfg.identity_threshold:.2f})"
                ), distance
            self._checked_at = index
        else:
            box = self._tracker.match(boxes, width, height)
        if box is not None:
            landmarks = self._detector.landmarks(image, box)
            why = "" if landmarks is not None else "a face was detected but its landmarks were not found"
            return landmarks, why, distance
        if self._tracker.box is None or (self._identity is not None and self._checked_at is None):
            return None, "no face detected", None
        landmarks = self._detector.landmarks(image, self._tracker.box)  # e.g. a profile view: look where it was
        if landmarks is None:
            self._checked_at = None  # when a face comes back, check who it is
            return None, "no face detected, none found where the followed face was", None
        return landmarks, "", None

    def _still_rejected(self, boxes: list[FaceBox], index: int) -> bool:
        """Every face of the frame continues one found not to be the reference person at most
        `identity_every` frames ago (so it need not be checked again yet)."""
        if self._rejected is None or index - self._rejected[2] >= self.cfg.identity_every:
            return False
        if not all(max(b.iou(r) for r in self._rejected[0]) >= 0.3 for b in boxes):
            return False
        self._rejected = (boxes, self._rejected[1], self._rejected[2])
        return True

    def _reference_person(self, image: np.ndarray, boxes: list[FaceBox]) -> tuple[FaceBox | None, float]:
        """Of the frame's faces (the largest `identity_candidates`, the followed face's continuation first):
        the followed face while it is still the reference person, else the one nearest the reference identity
        if near enough (else None); and its distance."""
        t0 = time.perf_counter()
        try:
            return self._nearest_to_reference(image, boxes)
        finally:
            self._identity_ms += (time.perf_counter() - t0) * 1000.0

    def _nearest_to_reference(self, image: np.ndarray, boxes: list[FaceBox]) -> tuple[FaceBox | None, float]:
        from .identity import identity_distance

        height, width = image.shape[:2]
        follow = self._tracker.match(boxes, width, height) if self._tracker.box is not None else None
        others = sorted((b for b in boxes if b is not follow), key=lambda b: -b.size)
        candidates = ([follow] if follow is not None else []) + others
        best, best_d = None, float("inf")
        for box in candidates[: self.cfg.identity_candidates]:
            d = identity_distance(self._reference_identity, self._identity.embed(image, box.as_array()))
            if box is follow and d <= self.cfg.identity_threshold:
                return box, d  # still the reference person: keep following it
            if d < best_d:
                best, best_d = box, d
        if best_d > self.cfg.identity_threshold:  # smaller faces the short-range model left out
            more = [b for b in self._detector.detect(image, full_range=True) if max(b.iou(c) for c in boxes) < 0.3]
            for box in sorted(more, key=lambda b: -b.size)[: self.cfg.identity_candidates]:
                d = identity_distance(self._reference_identity, self._identity.embed(image, box.as_array()))
                if d < best_d:
                    best, best_d = box, d
        return (best if best_d <= self.cfg.identity_threshold else None), best_d

    def _no_face(self, index: int, image: np.ndarray | None, reason: str, other_person: bool = False) -> FaceResult:
        if image is not None and self.cfg.no_face == "hold" and self._last_view is not None and not other_person:
            if self._held < self.cfg.hold_max_frames:
                self._held += 1
                held = (
                    f"{reason}; holding the view of frame {self._last_index} ({self._held}/{self.cfg.hold_max_frames})"
                )
                return self._result(index, "held", held, image, self._last_view, self._intrinsics(image))
            reason = f"{reason} (held for the maximum of {self.cfg.hold_max_frames} frames)"
        self._smoother.reset()
        self._last_pose = None
        return FaceResult(index, "skipped", reason, image=image)

    def process_frame(self, image: np.ndarray, index: int) -> FaceResult:
        """Step 1 for one RGB uint8 frame `[H, W, 3]` with source index `index` (frames in order)."""
        cut = self._shots.update(image, index)
        if cut and self._shots.shot.number > 0:
            self.new_shot()
        self._identity_ms = 0.0
        result = self._process(image, index)
        result.cut, result.identity_ms = cut, self._identity_ms
        if cut and result.status == "skipped" and self._shots.shot.number > 0:
            result.reason = f"shot cut: {result.reason}"
        return result

    def _process(self, image: np.ndarray, index: int) -> FaceResult:
        landmarks, reason, distance = self._find(image, index)
        if landmarks is None:
            self._tracker.miss()
            result = self._no_face(index, image, reason, other_person=reason.startswith("another person"))
            result.identity_distance = distance
            return result
        self._tracker.update(FaceBox.from_landmarks(landmarks))
        K = self._intrinsics(image)
        pose = solve_pose(self.template, landmarks, K, self._last_pose)
        if pose is None:
            return self._no_face(index, image, "head pose could not be solved")
        raw = view_from_pose(pose, K, self.canonical)
        last = self._last_view
        if last is not None and (
            np.linalg.norm(raw.centre - last.centre) > self.cfg.cut_threshold * last.side
            or abs(raw.side / last.side - 1.0) > self.cfg.cut_threshold
        ):
            self._smoother.reset()
        view = raw
        if self.cfg.smooth:
            angles, centre, side = self._smoother(
                [raw.yaw, raw.pitch, raw.roll], raw.centre, raw.side, index / self.fps
            )
            view = View(float(angles[0]), float(angles[1]), float(angles[2]), centre, side)
        self._last_pose, self._last_view, self._last_index, self._held = pose, view, index, 0
        result = self._result(index, "ok", None, image, view, K)
        result.landmarks = landmarks
        result.box = FaceBox.from_landmarks(landmarks).as_array()
        result.reprojection_error = pose.reprojection_error
        result.identity_distance = distance
        return result

    def process(self, frames: Iterable[Frame | np.ndarray]) -> Iterator[FaceResult]:
        """Yield one `FaceResult` per input, in order. Inputs: `video.Frame`s (decode failures become
        `skipped` results with the decoder's reason) or RGB uint8 arrays `[H, W, 3]` (indexed 0, 1, ...).
        With `interpolate_holds`, held frames come out once the run of holds ends."""
        held: list[FaceResult] = []
        for position, frame in enumerate(frames):
            if isinstance(frame, Frame):
                if frame.image is None:
                    result = FaceResult(frame.index, "skipped", frame.error or "frame could not be decoded")
                else:
                    result = self.process_frame(frame.image, frame.index)
            else:
                result = self.process_frame(np.asarray(frame), position)
            if result.status == "held" and self.cfg.interpolate_holds:
                held.append(result)
                continue
            if held:
                yield from self._between(held, result)
                held = []
            yield result
        yield from held

    def _between(self, held: list[FaceResult], after: FaceResult) -> list[FaceResult]:
        """A run of held frames once the next frame is known: when it is `ok` in the same shot, each takes the
        view interpolated between the last good one (the one it holds) and that frame's."""
        if after.status != "ok" or after.cut or held[0].view is None or after.view is None:
            return held
        a, b = held[0].view, after.view
        out = []
        for k, r in enumerate(held):
            t = (k + 1) / (len(held) + 1)
            view = View(
                a.yaw + t * (b.yaw - a.yaw), a.pitch + t * (b.pitch - a.pitch), a.roll + t * (b.roll - a.roll),
                a.centre + t * (b.centre - a.centre), float(a.side * (b.side / a.side) ** t),
            )
            reason = f"{r.reason}; view interpolated towards frame {after.index}"
            out.append(self._result(r.index, "held", reason, r.image, view, r.source_intrinsics))
            out[-1].cut, out[-1].identity_ms = r.cut, r.identity_ms
        return out

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self._detector.close()

    def __enter__(self) -> "FacePreprocessor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
