"""One clip: frames -> face preprocessing -> lifter -> (undistorter + fuser) -> field -> mesh, as a generator.

`reconstruct_clip` yields one `FrameOutput` per source frame in order, as soon as it is done, and
holds one frame at a time (memory does not grow with the clip: in `fused` mode the recurrent state
is one frame's worth). Frames without a usable face come
out with status `skipped` and the reason; nothing raises for one bad frame. The server, the CLI
and the benchmarks all run this same generator.
"""

import dataclasses
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from backend.config import MeshConfig
from backend.face.config import FaceConfig
from backend.face.matte import PersonMatte
from backend.face.preprocess import FacePreprocessor, FaceResult
from backend.mesh import EmptySurfaceError, Mesh, mesh_from_field
from backend.mesh.build import Texturer
from backend.mesh.projection import PhotoView, TextureBlender, TextureInputError
from backend.models.fusion import FusionNet, FusionState
from backend.models.lifter import Lifter, lift_face
from backend.models.weights import load_lifter, load_networks
from backend.render.field import TriplaneField
from backend.topology.clip_texture import ClipTexture
from backend.topology.mesher import LandmarkView, TrackedMesher
from backend.topology.smooth import smooth_in_time
from backend.topology.template import N_FACE_LANDMARKS
from backend.units import METRES_PER_BOX_UNIT
from backend.video import VideoError, VideoInfo, VideoReader, open_video, read_image
from headfuse_wire.options import ReconstructConfig


def mesh_config(cfg: ReconstructConfig) -> MeshConfig:
    """The mesh extraction and texture baking a job's options ask for."""
    return MeshConfig(resolution=cfg.mesh_resolution, texture_size=cfg.texture_size)


def face_config(cfg: ReconstructConfig) -> FaceConfig:
    """The face tracking a job's options ask for."""
    return FaceConfig(no_face=cfg.no_face, source_focal_px=cfg.focal_px)


def frame_count(info: VideoInfo, cfg: ReconstructConfig) -> int | None:
    """Frames the job's range takes from a video (None when the video does not say how long it is)."""
    if info.frame_count is None:
        return None
    end = info.frame_count if cfg.stop is None else min(cfg.stop, info.frame_count)
    return max(0, (end - cfg.start + cfg.stride - 1) // cfg.stride)


def reference_image(
    reader: VideoReader, reference: str | Path | np.ndarray | None, cfg: ReconstructConfig
) -> np.ndarray:
    """The reference as RGB `[H, W, 3]` uint8: frame `cfg.reference_frame` of the opened video when the
    options name one, else the image `reference` (a path or an array). Raises `VideoError` /
    `FileNotFoundError` with one line naming the file or the frame."""
    if cfg.reference_frame is not None:
        frame = next(reader.frames(cfg.reference_frame, cfg.reference_frame + 1), None)
        if frame is None or not frame.ok:
            why = frame.error if frame is not None else f"the video has no frame {cfg.reference_frame}"
            raise VideoError(f"reference frame {cfg.reference_frame} of {reader.path}: {why}")
        return frame.image
    if isinstance(reference, np.ndarray):
        return reference
    if reference is None:
        raise FileNotFoundError("no reference: give a reference image or a reference frame")
    return read_image(reference)


@dataclass
class FrameOutput:
    """The result of one source frame."""

    index: int
    """Source frame index."""
    status: str
    """`ok`, `held` (the face was lost; the last good view was reused) or `skipped`."""
    reason: str | None = None
    """Why the frame was held or skipped."""
    mesh: Mesh | None = None
    """Textured mesh in metres, canonical head frame (None when skipped)."""
    camera: dict | None = None
    """`cam2world` `[4, 4]` (metres, OpenCV axes: x right, y down, z forward) of the solved camera in
    the head frame, `intrinsics` `[3, 3]` normalized (crop), `source_intrinsics` `[3, 3]` pixels of the
    plate, `source_cam2world` `[4, 4]` metres, `head_pose` `[4, 4]` = inverse of `source_cam2world`
    (the head in the plate camera's frame), yaw/pitch/roll in degrees."""
    crop: np.ndarray | None = None
    """The aligned input crop `[S, S, 3]` uint8 the lifter saw."""
    triplane: TriplaneField | None = None
    """The frame's field: triplane `[1, 3, C, P, P]` + decoder (for previews and the viewport preview)."""
    cut: bool = False
    """The frame starts a new shot (a cut; the first frame of a run does too)."""
    texture: dict | None = None
    """Projected textures: the share of texels coloured by the `frame`, the `reference` and the `field`,
    and the reference's per-channel `gain` (None for field textures)."""
    matte: np.ndarray | None = None
    """With the option `mattes`: the person matte `[H, W]` uint8 of the source frame (also when skipped)."""
    plate: np.ndarray | None = None
    """With the option `mattes`: the source frame `[H, W, 3]` uint8 (for the clean plate the sinks build)."""
    fit: dict | None = None
    """With `topology` tracked: the template fit's `FitReport.record()` (`error_voxels`: mean distance to the
    field's iso-surface; `landmarks` used; `landmark_error_mm`), measured before the smoothing over time."""
    timings_ms: dict = field(default_factory=dict)
    """Milliseconds per stage: decode+face, encode, fuse (fused mode), grid, marching (or fit), colours,
    texture."""


def _metres(m: np.ndarray) -> np.ndarray:
    out = np.array(m, dtype=np.float64)
    out[:3, 3] *= METRES_PER_BOX_UNIT
    return out


def camera_record(face: FaceResult) -> dict:
    """The per-frame camera and head pose of a usable `FaceResult`, in metres (JSON-friendly lists)."""
    src = _metres(face.source_cam2world)
    return {
        "cam2world": _metres(face.cam2world).tolist(),
        "intrinsics": np.asarray(face.intrinsics, dtype=np.float64).tolist(),
        "source_cam2world": src.tolist(),
        "source_intrinsics": np.asarray(face.source_intrinsics, dtype=np.float64).tolist(),
        "head_pose": np.linalg.inv(src).tolist(),
        "crop_matrix": np.asarray(face.crop_matrix, dtype=np.float64).tolist(),
        "yaw_deg": float(np.degrees(face.yaw)),
        "pitch_deg": float(np.degrees(face.pitch)),
        "roll_deg": float(np.degrees(face.roll)),
    }


@torch.no_grad()
def lift_and_mesh(
    lifter: Lifter,
    face: FaceResult,
    template_points: np.ndarray,
    mesh_cfg: MeshConfig,
    timings: dict,
    fusion: FusionNet | None = None,
    state: FusionState | None = None,
    texturer: Texturer | None = None,
    mesher=None,
) -> tuple[TriplaneField, Mesh, FusionState | None]:
    """A usable frame -> field (triplane `[1, 3, C, P, P]` + decoder), textured mesh and the next fusion
    state. With `fusion` and its `state` the raw triplane is undistorted and fused (fused mode); without,
    it is used as it is (per-frame mode). `template_points [478, 3]`: the clip's face template.
    `texturer`: how the texture is made (default: baked from the field); `mesher`: how the mesh is made
    (`mesher(field, mesh_cfg, timings, texturer)`; default: marching cubes, `mesh_from_field`)."""
    t0 = time.perf_counter()
    planes = lift_face(lifter, face, template_points)
    timings["encode"] = (time.perf_counter() - t0) * 1000.0
    if fusion is not None:
        t0 = time.perf_counter()
        planes, state = fusion.fuse_frame(planes, state)
        timings["fuse"] = (time.perf_counter() - t0) * 1000.0
    field = lifter.field(planes)
    return field, (mesher or mesh_from_field)(field, mesh_cfg, timings, texturer), state


def photo_view(face: FaceResult, name: str) -> PhotoView:
    """The source image of a usable `FaceResult` with its solved plate camera, for projected textures."""
    return PhotoView(face.image, face.source_cam2world, face.source_intrinsics, name)


def texture_blender(cfg: ReconstructConfig, reference: FaceResult, name: str) -> TextureBlender | None:
    """The clip's projected-texture state with the reference image (`name` in messages) as its fill,
    or None when the options ask for field textures or none. Raises `TextureInputError`."""
    if cfg.texture != "projected" or cfg.texture_size == 0:
        return None
    return TextureBlender(photo_view(reference, name))


def reconstruct_clip(
    video: str | Path | VideoReader,
    reference: str | Path | np.ndarray,
    cfg: ReconstructConfig | None = None,
    lifter: Lifter | None = None,
    fusion: FusionNet | None = None,
    reference_name: str | None = None,
) -> Iterator[FrameOutput]:
    """Reconstruct a clip frame by frame (see the module docstring). `video` is anything `backend.video`
    reads, or a `VideoReader` already open on it; `reference` a near-frontal image of the same person
    (path or RGB array; ignored when `cfg.reference_frame` names a frame of the video). `lifter` and
    `fusion` are loaded networks (default: from `cfg`'s weights, each read once); `fusion` is used in
    `fused` mode only; `reference_name` is what messages call the reference (default: its path). Frames
    that are skipped leave the fusion state as it was."""
    from backend.device import resolve_device

    cfg = (cfg or ReconstructConfig()).validate()
    device = resolve_device(cfg.device)
    if lifter is None or (cfg.mode == "fused" and fusion is None):
        nets = load_networks(cfg.weights, cfg.fusion_weights, device) if cfg.mode == "fused" else None
        lifter = lifter or (nets.lifter if nets is not None else load_lifter(cfg.weights, device))
        if nets is not None and fusion is None:
            if nets.fusion is None:
                raise ValueError(nets.fusion_error)
            fusion = nets.fusion
    if cfg.mode == "per-frame":
        fusion = None
    reader = video if isinstance(video, VideoReader) else open_video(video)  # a non-video fails here, before work
    if reference_name is not None:
        ref_name = reference_name
    elif cfg.reference_frame is not None:
        ref_name = f"reference frame {cfg.reference_frame} of {reader.path}"
    else:
        ref_name = "the reference image" if isinstance(reference, np.ndarray) else str(reference)
    reference = reference_image(reader, reference, cfg)
    with FacePreprocessor(reference, face_config(cfg), fps=reader.info.fps, reference_name=ref_name) as pre:
        template = pre.template.points
        blender = texture_blender(cfg, pre.reference_result, ref_name)
        state = fusion.start(lift_face(lifter, pre.reference_result, template)) if fusion is not None else None
        faces = pre.process(reader.frames(cfg.start, cfg.stop, cfg.stride))
        matter = PersonMatte() if cfg.mattes else None
        mesher = TrackedMesher() if cfg.topology == "tracked" else None
        outputs = _frames(faces, matter, mesher, lifter, template, cfg, fusion, state, blender, reader.path)
        if mesher is not None and cfg.track_smoothing > 0:
            weld = mesher.template.weld
            outputs = smooth_in_time(outputs, lambda out: None if out.mesh is None else out.mesh.vertices,
                                     lambda out: out.cut, lambda out, v: _with_vertices(out, v, weld),
                                     cfg.track_smoothing)  # fmt: skip
        try:
            yield from outputs
        finally:
            if matter is not None:
                matter.close()


def landmark_view(face: FaceResult) -> LandmarkView | None:
    """The landmarks of an `ok` frame with the plate camera that saw them (None for other frames)."""
    if face.status != "ok" or face.landmarks is None:
        return None
    return LandmarkView(face.landmarks[:N_FACE_LANDMARKS, :2], face.source_cam2world, face.source_intrinsics)


def _with_vertices(out: FrameOutput, vertices: np.ndarray, weld: np.ndarray) -> FrameOutput:
    """`out` with its tracked mesh's vertices `[V, 3]` (metres) replaced, normals made again (across the UV
    seams: `weld [V]`, the template point of each vertex)."""
    moved = dataclasses.replace(out.mesh, vertices=vertices)
    return dataclasses.replace(out, mesh=dataclasses.replace(moved, normals=moved.vertex_normals(weld)))


def _frames(faces, matter, mesher, lifter, template, cfg, fusion, state, blender, path) -> Iterator[FrameOutput]:
    """The frames of `reconstruct_clip` once its reference, networks, (with `cfg.mattes`) matte graph
    `matter` and (with tracked topology) `mesher` are set up; `path` names the video in messages."""
    clip_texture = ClipTexture() if cfg.texture_span == "clip" else None
    while True:
        t0 = time.perf_counter()
        face = next(faces, None)
        if face is None:
            return
        timings = {"decode_face": (time.perf_counter() - t0) * 1000.0, "identity": face.identity_ms}
        extra = {"cut": face.cut, "timings_ms": timings}
        if matter is not None and face.image is not None:
            t1 = time.perf_counter()
            extra.update(matte=matter(face.image), plate=face.image)
            timings["matte"] = (time.perf_counter() - t1) * 1000.0
        if not face.usable:
            yield FrameOutput(face.index, "skipped", face.reason, **extra)
            continue
        texturer = None
        if blender is not None:
            view = photo_view(face, f"frame {face.index} of {path}") if face.status == "ok" else None
            texturer = blender.texturer(view)  # a held frame keeps the last frame's colours
        try:
            frame_mesher = mesher if mesher is None else functools.partial(mesher, view=landmark_view(face))
            field_, mesh, state = lift_and_mesh(lifter, face, template, mesh_config(cfg), timings, fusion, state,
                                                texturer, frame_mesher)  # fmt: skip
        except EmptySurfaceError as exc:
            yield FrameOutput(face.index, "skipped", f"no surface in the reconstructed field: {exc}", **extra)
            continue
        except TextureInputError as exc:
            yield FrameOutput(face.index, "skipped", str(exc), **extra)
            continue
        if clip_texture is not None and mesh.texture is not None:
            layer = blender.frame_layer if blender is not None else (None, None, None)
            mesh = dataclasses.replace(mesh, texture=clip_texture.add(mesh.texture, *layer))
        yield FrameOutput(face.index, face.status, face.reason, mesh, camera_record(face), face.crop, field_,
                          texture=dict(blender.info) if blender is not None else None,
                          fit=mesher.last_report.record() if mesher is not None else None,
                          **extra)  # fmt: skip
