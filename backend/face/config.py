"""Configuration of the face preprocessing (detection, tracking, pose, crop, smoothing)."""

from dataclasses import dataclass

from .identity import IDENTITY_THRESHOLD


@dataclass
class FaceConfig:
    """Face preprocessing of one clip. The canonical placement constants live in `face.canonical`."""

    crop_size: int = 256
    """Side of the aligned crop in pixels (64, 128, 256, 512, ...)."""
    crop_border: str = "replicate"
    """How the crop is filled where it leaves the frame: `replicate` the edge pixels or `constant` black."""
    no_face: str = "hold"
    """Policy for a frame where no face (or no pose) is found. `hold`: reuse the last good pose and
    crop window (on the current image) for up to `hold_max_frames` frames, status `held`; after that,
    and always under `skip`, the frame is reported with status `skipped` and the reason, no crop."""
    hold_max_frames: int = 12
    """Longest run of frames that `no_face="hold"` bridges before frames are skipped."""
    interpolate_holds: bool = True
    """Offline: a run of held frames that ends with the face found again in the same shot takes views
    interpolated between the frames on both sides (the held frames wait for that frame, at most
    `hold_max_frames` of them); off, each keeps the last good view (what a live stream must do)."""
    min_detection_confidence: float = 0.5
    """MediaPipe face detection score threshold."""
    min_mesh_confidence: float = 0.5
    """MediaPipe face mesh presence / tracking threshold."""
    mesh_tracking: bool = True
    """Run the face mesh in video mode (tracks landmarks between frames, faster and steadier);
    False re-detects inside every crop (static image mode)."""
    mesh_input_size: int = 256
    """Side of the square window (pixels) around the tracked face that the face mesh sees."""
    mesh_crop_scale: float = 2.0
    """Side of that window as a multiple of the face box size."""
    track_min_iou: float = 0.2
    """A detection continues the tracked face when its box overlaps the last one by this IoU (or its
    centre lies within half a face size of the last centre with a similar size)."""
    track_max_lost: int = 30
    """Frames without the tracked face before the tracker picks the largest / most central face again."""
    source_focal_px: float | None = None
    """Focal length of the source camera in pixels; None guesses `source_focal_factor` x the longer side."""
    source_focal_factor: float = 1.0
    """Guessed focal length as a multiple of the longer image side (1.0: 53 deg across the long side)."""
    default_fps: float = 25.0
    """Frame rate assumed for smoothing when the source does not give one."""
    smooth: bool = True
    """Temporal smoothing (One Euro filter) of the pose angles and the crop window."""
    smooth_min_cutoff: float = 1.5
    """One Euro minimum cutoff frequency (Hz): lower is steadier when the head is still."""
    smooth_beta_pose: float = 2.0
    """One Euro speed coefficient for the pose angles (per rad/s): higher follows fast turns sooner."""
    smooth_beta_crop: float = 4.0
    """One Euro speed coefficient for the crop centre (per crop side / s) and log crop side (per s)."""
    cut_threshold: float = 0.5
    """A jump of the crop centre by more than this fraction of the crop side, or of the crop side by more
    than this fraction, between two frames counts as a cut: the smoothing restarts."""
    identity: bool = True
    """Follow the reference person only: every face the tracker takes up is compared with the reference
    (dlib's face recognition, `face.identity`), and a face that is not the reference person is never taken."""
    identity_threshold: float = IDENTITY_THRESHOLD
    """Largest identity distance that counts as the reference person (measured: `face.identity`)."""
    identity_every: int = 12
    """Frames between identity checks of a face already followed (it is also checked whenever it is taken
    up: at the start, after a cut and after it was lost)."""
    identity_candidates: int = 4
    """Faces of a frame compared with the reference at most, the largest first."""
    shot_min_change: float = 0.12
    """A frame whose thumbnail differs from the last one's by more than this (mean absolute, 0..1) and by
    far more than the shot's typical change starts a new shot (`face.shots`): tracking, smoothing and
    holds start afresh, so a hold never bridges a cut."""

    def __post_init__(self):
        if self.no_face not in ("hold", "skip"):
            raise ValueError(f"FaceConfig.no_face must be 'hold' or 'skip', got {self.no_face!r}")
        if self.crop_border not in ("replicate", "constant"):
            raise ValueError(f"FaceConfig.crop_border must be 'replicate' or 'constant', got {self.crop_border!r}")
        if self.crop_size < 8:
            raise ValueError(f"FaceConfig.crop_size must be at least 8 pixels, got {self.crop_size}")
