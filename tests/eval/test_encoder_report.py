import json

import torch

from backend.config import encoder_preset
from backend.eval.encoder_report import EncoderEvalConfig, evaluate_encoder, write_report
from backend.models.lifter import Lifter
from backend.train.sample_cache import build_cache


def test_report_has_the_promised_keys_and_a_markdown_table(tmp_path):
    cache = build_cache(tmp_path / "samples", 2, seed=3, image_size=128, points=256, progress=False)
    torch.manual_seed(0)
    model = Lifter(encoder_preset("tiny"))
    cfg = EncoderEvalConfig(heads=1, resolution=16, mesh_resolution=16, mean_head_samples=2)
    result = evaluate_encoder(model, cache, cfg, progress=False)
    for key in (
        "psnr_novel_30",
        "baseline_psnr_novel_30",
        "chamfer",
        "baseline_chamfer",
        "psnr_input",
        "ssim_novel_60",
    ):
        assert key in result
    assert 0.0 < result["psnr_input"] < 60.0 and -1.0 <= result["ssim_input"] <= 1.0
    js, md = write_report(result, tmp_path / "report.json")
    assert json.loads(js.read_text())["encoder"]["heads"] == 1
    assert "| psnr_novel_30 |" in md.read_text()
