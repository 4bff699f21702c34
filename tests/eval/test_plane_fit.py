"""The plane-fit evaluation: fitting the planes to views makes those views better, and the report is
written (a real held-out sample made through MediaPipe and the pose solve, a seeded untrained lifter)."""

import json

import pytest
import torch

from backend.config import encoder_preset
from backend.eval.lifter_compare import sample_batch
from backend.eval.plane_fit import FITS, PlaneFitConfig, evaluate_plane_fit, fit_planes, write_report
from backend.models.lifter import Lifter
from backend.train.sample_cache import SampleCache, build_cache

SMALL = PlaneFitConfig(heads=1, view_res=32, iters=12, lr=0.05, fit_samples=(12, 8), strip_heads=1)


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    return build_cache(root, 1, seed=1_000_000, image_size=128, view_res=32, tracked=True, progress=False)


@pytest.fixture(scope="module")
def lifter():
    torch.manual_seed(0)
    return Lifter(encoder_preset("pixel")).eval()


def test_planes_fitted_to_a_view_render_it_better_and_leave_the_lifter_as_it_was(heldout, lifter):
    data = SampleCache(heldout)
    batch = sample_batch(data, data.indices[0], SMALL.view_res)
    with torch.no_grad():
        start = lifter(batch["image"], batch["geometry"], batch["cam2world"], batch["intrinsics"])
    before = {k: v.clone() for k, v in lifter.state_dict().items()}
    fitted = fit_planes(lifter, start, batch, [0], SMALL)
    assert fitted.shape == start.shape and not torch.equal(fitted, start)
    assert all(torch.equal(v, lifter.state_dict()[k]) for k, v in before.items())
    assert all(p.requires_grad for p in lifter.parameters())  # handed back trainable


def test_the_report_scores_the_lifter_and_each_fit(heldout, lifter, tmp_path):
    torch.manual_seed(0)
    result = evaluate_plane_fit(lifter, heldout, SMALL, progress=False)
    methods = result["methods"]
    assert list(methods) == ["lifter", *FITS]
    assert methods["input_view"]["psnr_input"] > methods["lifter"]["psnr_input"]
    assert methods["all_views"]["psnr_novel"] > methods["lifter"]["psnr_novel"]
    js, md, png = write_report(result, tmp_path / "planefit.json")
    assert json.loads(js.read_text())["planefit"]["heads"] == 1
    assert "| all_views |" in md.read_text() and png.stat().st_size > 0
    assert result["strip"].shape == (32, 32 * 12, 3)  # 3 methods x 3 views, then the truth x 3
