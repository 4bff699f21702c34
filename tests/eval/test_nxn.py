"""The N x N protocol on a small held-out clip with the shipped lifter and fusion weights."""

import json

import pytest
import torch

from backend.eval.nxn import (
    NxNConfig,
    evaluate_nxn,
    lift_views,
    load_clip_result,
    make_clip,
    reconstruct_views,
    report_key,
    write_report,
)
from backend.models.fusion import METHODS
from backend.models.weights import load_networks

SMALL = NxNConfig(clips=3, frames=3, views=2, input_size=128, eval_size=32, n_coarse=16, n_fine=16, detail_every=0,
                  strip_frames=3, mesh_resolution=48, mesh_texture_size=128)


@pytest.fixture(scope="module")
def networks():
    nets = load_networks(device="cpu")
    assert nets.fusion is not None, nets.fusion_error
    return nets


@pytest.fixture(scope="module")
def result(networks):
    torch.manual_seed(0)
    return evaluate_nxn(networks.lifter, networks.fusion, SMALL, progress=False)


def test_rig_spans_minus_to_plus_60_and_the_head_moves():
    clip = make_clip(SMALL.seed, NxNConfig(clips=1, frames=2, views=5, input_size=32, eval_size=16))
    assert [round(float(y)) for y in clip["yaw_deg"]] == [-60, -30, 0, 30, 60]
    assert clip["inputs"].shape == (5, 2, 3, 32, 32) and clip["truth"].shape == (5, 2, 3, 16, 16)
    assert not torch.allclose(clip["c2w"][:, 0], clip["c2w"][:, 1])  # the head moves between frames


def test_report_has_every_method_and_the_goals(result, tmp_path):
    s = result["summary"]
    assert "per_frame" in s and "undistorter_only" in s  # JSON keys are identifiers
    for m in map(report_key, METHODS):
        assert {"psnr", "psnr_novel", "psnr_input", "psnr_occluded", "ssim", "temporal_variation"} <= set(s[m])
        assert 5 < s[m]["psnr_novel"] < 60 and s[m]["temporal_variation"] >= 0
        assert len(s[m]["psnr_matrix"]) == 2
    assert s["views_yaw_deg"] == [-60.0, 60.0]
    # the textured-mesh rows: projection from the input view beats the field's colour seen from that view
    projected, field = s["mesh_projected"], s["mesh_field"]
    assert projected["psnr_input"] > field["psnr_input"] + 0.5, (projected, field)
    # the prior never changes, the truth does: every change it misses counts
    assert s["static_prior"]["temporal_variation"] > 0 and 5 < s["static_prior"]["psnr"] < 60
    js, md, png = write_report(result, tmp_path / "nxn.json")
    data = json.loads(js.read_text())
    assert {report_key(m) for m in METHODS} <= set(data["nxn"]) and "psnr_novel_gain_db" in data["nxn"]["goals"]
    assert "| fused |" in md.read_text() and "prior shown unchanged" in md.read_text()
    assert "| projected |" in md.read_text() and "mesh_field" in data["nxn"]
    assert png.stat().st_size > 10_000


def test_methods_differ_and_per_frame_is_the_lifter(networks):
    clip = make_clip(SMALL.seed, SMALL)
    raw, prior, skipped = lift_views(networks.lifter, clip, SMALL.fps)
    # at +-60 deg yaw (and the head's own turn) MediaPipe may lose a frame; those are lifted from the rig camera
    assert raw.shape[:2] == (SMALL.views, SMALL.frames) and 0 <= skipped < SMALL.views * SMALL.frames
    per_frame = reconstruct_views(networks.fusion, raw, prior, "per-frame")
    fused = reconstruct_views(networks.fusion, raw, prior, "fused")
    torch.testing.assert_close(per_frame, raw)
    assert (fused - per_frame).abs().mean() > 1e-3


def test_occluded_side_is_closer_to_the_truth_when_fused(result):
    """A frame at +-60 deg yaw cannot see the other side of the face: rendered from there, the fused
    reconstruction (which takes it from the reference's prior) beats the lifter alone, over three
    held-out clips (one clip alone can go either way: seed 1,500,000 does not gain)."""
    s = result["summary"]
    assert s["fused"]["psnr_occluded"] > s["per_frame"]["psnr_occluded"]


def test_a_cached_evaluation_goes_on_from_its_last_clip(networks, result, tmp_path):
    from dataclasses import replace

    one = replace(SMALL, clips=1)
    torch.manual_seed(0)
    evaluate_nxn(networks.lifter, networks.fusion, one, progress=False, cache=tmp_path, cache_key="k")
    assert [p.name for p in tmp_path.glob("*.pt")] == [f"clip_{SMALL.seed}.pt"]
    torch.manual_seed(0)
    resumed = evaluate_nxn(networks.lifter, networks.fusion, SMALL, progress=False, cache=tmp_path, cache_key="k")
    assert len(list(tmp_path.glob("*.pt"))) == 3  # the first clip reused, the other two measured and kept
    for method in map(report_key, METHODS):
        assert resumed["summary"][method]["psnr_novel"] == pytest.approx(result["summary"][method]["psnr_novel"],
                                                                           abs=0.01)
    assert resumed["strips"]["fused"].shape == result["strips"]["fused"].shape  # the figure's strip came back
    evaluate_nxn(networks.lifter, networks.fusion, one, progress=False, cache=tmp_path, cache_key="other networks")
    assert load_clip_result(tmp_path, SMALL.seed, one, "k") is None  # measured again, not taken from the cache
    assert load_clip_result(tmp_path, SMALL.seed, one, "other networks") is not None
