"""Reconstruction end to end with the shipped weights (fused by default): the sample clip and a real photo."""

import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from backend.cli import main
from backend.mesh.raster import render_textured
from backend.models.weights import load_lifter
from backend.pipeline import ReconstructConfig, reconstruct_clip
from backend.preview import LABELS, TILE
from backend.synth import SAMPLE_CLIP_DIR
from backend.units import metres_to_box
from backend.video import open_video

SAMPLE = SAMPLE_CLIP_DIR
FAST = {"mesh_resolution": 64, "texture_size": 128}


@pytest.fixture(scope="module")
def lifter():
    return load_lifter()


def assert_head_like(frame):
    mesh = frame.mesh
    lo, hi = mesh.vertices.min(0), mesh.vertices.max(0)
    width, height, depth = hi - lo
    assert 0.10 < width < 0.32 and 0.15 < height < 0.40 and 0.10 < depth < 0.35, (width, height, depth)
    assert 0.8 < height / width < 2.2
    # Faces the camera: the solved camera is in front of the face (+z), and the most protruding point
    # (the nose) is near the middle, in the front half.
    cam_z = np.array(frame.camera["cam2world"])[2, 3]
    assert cam_z > 0.3
    nose = mesh.vertices[np.argmax(mesh.vertices[:, 2])]
    assert abs(nose[0] - 0.5 * (lo[0] + hi[0])) < 0.25 * width
    assert nose[2] > 0.5 * (lo[2] + hi[2])


def test_sample_clip_frames_become_head_meshes(lifter):
    cfg = ReconstructConfig(**FAST, stop=3, device="cpu")
    frames = list(reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png", cfg, lifter=lifter))
    assert [f.index for f in frames] == [0, 1, 2]
    for frame in frames:
        assert frame.status == "ok", frame.reason
        assert frame.mesh.texture.shape == (128, 128, 3)
        assert_head_like(frame)


def test_projected_textures_look_like_the_plate_where_field_textures_are_the_fields_blur(lifter):
    """Rendered through the solved plate camera, the projected texture is closer to the plate's pixels
    than the field's colour is, inside the face; a field texture has no projection record."""
    renders = {}
    for texture in ("projected", "field"):
        cfg = ReconstructConfig(mesh_resolution=64, texture_size=256, texture=texture, stop=1, device="cpu")
        (frame,) = reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png", cfg, lifter=lifter)
        assert (frame.texture is None) == (texture == "field")
        K = np.array(frame.camera["source_intrinsics"])
        c2w = np.array(frame.camera["source_cam2world"])
        c2w[:3, 3] = metres_to_box(c2w[:3, 3])
        w, h = int(round(2 * K[0, 2])), int(round(2 * K[1, 2]))
        image, mask = render_textured(metres_to_box(frame.mesh.vertices), frame.mesh.faces, frame.mesh.uv,
                                      frame.mesh.texture, c2w, K, w, h)
        renders[texture] = (image, mask)
    plate = next(open_video(SAMPLE / "video.mp4").frames(0, 1)).image.astype(float)
    both = renders["projected"][1] & renders["field"][1]
    err = {k: np.abs(v[0][both].astype(float) - plate[both]).mean() for k, v in renders.items()}
    assert err["projected"] < 0.8 * err["field"], err


def test_fused_mode_fuses_each_frame_with_the_reference_prior(lifter):
    frames = {}
    for mode in ("per-frame", "fused"):
        cfg = ReconstructConfig(mode=mode, **FAST, stop=3, device="cpu")
        frames[mode] = list(reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png", cfg, lifter=lifter))
    for per_frame, fused in zip(frames["per-frame"], frames["fused"], strict=True):
        assert fused.status == "ok" and "fuse" in fused.timings_ms and "fuse" not in per_frame.timings_ms
        assert_head_like(fused)
        # same input crop, different field: the fused planes carry the prior
        assert np.array_equal(fused.crop, per_frame.crop)
        diff = (fused.triplane.planes - per_frame.triplane.planes).abs().mean().item()
        assert diff > 1e-3


def test_fusion_networks_passed_in_are_used(lifter):
    from backend.models.weights import load_fusion

    cfg = ReconstructConfig(**FAST, stop=1, device="cpu")
    (frame,) = reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png", cfg, lifter=lifter,
                                fusion=load_fusion())
    assert "fuse" in frame.timings_ms


def test_unknown_mode_is_a_clear_error():
    cfg = ReconstructConfig(mode="average", device="cpu")
    with pytest.raises(ValueError, match="mode 'average': expected one of fused, per-frame"):
        next(reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png", cfg))


def test_real_photograph_as_a_one_frame_clip(lifter, tmp_path):
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    frames = list(reconstruct_clip(photo, photo, ReconstructConfig(**FAST, device="cpu"), lifter=lifter))
    assert len(frames) == 1 and frames[0].status == "ok", frames[0].reason
    assert_head_like(frames[0])


def test_frame_without_a_face_is_reported(lifter, tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    photo = data.astronaut()
    for i in range(3):
        Image.fromarray(photo if i != 1 else np.full_like(photo, 127)).save(seq / f"{i:03d}.png")
    cfg = ReconstructConfig(**FAST, no_face="skip", device="cpu")
    frames = list(reconstruct_clip(seq, seq / "000.png", cfg, lifter=lifter))
    assert [f.status for f in frames] == ["ok", "skipped", "ok"]
    assert frames[1].index == 1 and "no face" in frames[1].reason and frames[1].mesh is None


def test_reconstruct_command_writes_meshes_manifest_and_preview(tmp_path):
    out = tmp_path / "out"
    code = main(["reconstruct", str(SAMPLE / "video.mp4"), "--ref", str(SAMPLE / "reference.png"), "-o", str(out),
                 "--frames", "0:2", "--mesh-res", "48", "--texture-size", "64", "--formats", "glb,ply",
                 "--device", "cpu"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["index"] for f in manifest["frames"]] == [0, 1]
    for f in manifest["frames"]:
        assert (out / f["files"]["glb"]).stat().st_size > 1000 and (out / f["files"]["ply"]).exists()
        assert np.array(f["camera"]["head_pose"]).shape == (4, 4)
    preview = np.asarray(Image.open(out / "preview.png"))
    assert preview.shape[1] == len(LABELS) * TILE and preview.std() > 10
    assert manifest["mesh"]["texture"] == "projected" and manifest["frames"][0]["texture"]["frame"] > 0.02


def test_unreadable_video_is_a_clear_error(tmp_path):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"this is not a video")
    with pytest.raises(Exception, match="clip.mp4"):
        next(reconstruct_clip(bogus, SAMPLE / "reference.png", ReconstructConfig(device="cpu")))


def test_fusion_weights_must_belong_to_the_lifter(tmp_path):
    from backend.checkpoint import load_checkpoint, save_checkpoint
    from backend.models.weights import default_lifter_path, load_networks

    other = save_checkpoint(tmp_path / "other.pt", {**load_checkpoint(default_lifter_path()), "saved_at": "elsewhere"})
    nets = load_networks(other)
    assert nets.fusion is None and "trained on another lifter" in nets.fusion_error
    assert load_networks().fusion is not None  # the shipped pair matches
    cfg = ReconstructConfig(weights=str(other), **FAST, stop=1, device="cpu")
    with pytest.raises(ValueError, match="another lifter"):
        next(reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png", cfg))
    assert len(list(reconstruct_clip(SAMPLE / "video.mp4", SAMPLE / "reference.png",
                                     ReconstructConfig(mode="per-frame", weights=str(other), **FAST, stop=1,
                                                       device="cpu")))) == 1
    # fusion weights beside a lifter's file are the ones it goes with
    import shutil

    from backend.models.weights import default_fusion_path

    pair = tmp_path / "pair"
    pair.mkdir()
    shutil.copy(default_lifter_path(), pair / "lifter.pt")
    shutil.copy(default_fusion_path(), pair / "fusion.pt")
    assert load_networks(pair / "lifter.pt").fusion is not None
    assert load_networks(other, pair / "fusion.pt").fusion is None  # given explicitly, still checked
