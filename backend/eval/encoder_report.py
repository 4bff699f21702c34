"""`headfuse eval --stage encoder`: the lifter on held-out synthetic identities vs the mean head.

For each held-out identity (seeds from 1_000_000 up, never used in training) with a random
expression and lighting: the input is a near-frontal render (yaw and pitch within +-15 deg);
predictions are rendered at the input camera and at yaw +-30 and +-60 deg, and compared with
exact ground truth (head alone over a grey background): PSNR and SSIM. The mesh extracted from
the predicted field is compared with the reference mesh: Chamfer distance in millimetres.
The baseline is the mean head: the average of the lifter's triplanes over training inputs,
decoded by the same decoder (what a lifter that ignores its input would score).
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from backend.config import MeshConfig, RenderConfig
from backend.mesh import EmptySurfaceError, mesh_from_field
from backend.metrics import chamfer_distance, psnr, ssim
from backend.models.lifter import Lifter
from backend.render.cameras import intrinsics_matrix, orbit_camera
from backend.render.field import TriplaneField
from backend.render.renderer import render_image
from backend.synth.expression import Expression
from backend.synth.head import SynthHead
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting
from backend.synth.meshing import reference_mesh
from backend.synth.render import render_gt

HELDOUT_SEED = 1_000_000
NOVEL_YAWS = (-60, -30, 30, 60)
BACKGROUND = 0.5


@dataclass
class EncoderEvalConfig:
    """The held-out evaluation of the lifter."""

    heads: int = 24
    """Held-out identities."""
    resolution: int = 64
    """Side of the compared renders in pixels."""
    mesh_resolution: int = 96
    """Marching-cubes cells per side for the Chamfer distance."""
    mean_head_samples: int = 200
    """Training inputs averaged into the mean-head baseline triplane."""
    seed: int = HELDOUT_SEED
    """First held-out identity seed."""


def _render(field, c2w, K, res) -> torch.Tensor:
    cfg = RenderConfig(n_coarse=48, n_fine=48, background=BACKGROUND)
    return render_image(field, c2w, K, res, cfg)["rgb"].clamp(0, 1)


@torch.no_grad()
def mean_triplane(model: Lifter, cache_dir: Path, count: int) -> torch.Tensor:
    """The average lifter triplane `[1, 3, C, P, P]` over the first `count` cached training inputs."""
    from backend.train.sample_cache import SampleCache

    cache = SampleCache(cache_dir)
    acc = None
    chosen = cache.indices[:count]
    n = len(chosen)
    for i in chosen:
        image = torch.from_numpy(cache.load(i)["image"]).permute(2, 0, 1).float()[None] / 255
        planes = model(image)
        acc = planes if acc is None else acc + planes
    return acc / n


@torch.no_grad()
def evaluate_encoder(
    model: Lifter, cache_dir: Path, cfg: EncoderEvalConfig | None = None, progress: bool = True
) -> dict:
    """Metrics of the lifter and of the mean-head baseline; the dict goes under top-level `encoder`."""
    cfg = cfg or EncoderEvalConfig()
    model.eval()
    prior = mean_triplane(model, cache_dir, cfg.mean_head_samples)
    views = {"input": None, **{f"novel_{y:+d}": y for y in NOVEL_YAWS}}
    rows: dict[str, dict[str, list[float]]] = {m: {} for m in ("lifter", "baseline")}
    mesh_cfg = MeshConfig(resolution=cfg.mesh_resolution, texture_size=0)
    for k in tqdm(range(cfg.heads), desc="eval encoder", unit="head", disable=not progress):
        gen = torch.Generator().manual_seed(cfg.seed + k)
        head = SynthHead(Identity.sample(cfg.seed + k), Expression.sample(gen), Lighting.sample(gen))
        yaw = math.radians(float(torch.empty(1).uniform_(-15, 15, generator=gen)))
        pitch = math.radians(float(torch.empty(1).uniform_(-10, 10, generator=gen)))
        c_in, k_in = orbit_camera(yaw, pitch), intrinsics_matrix(batch=1)
        image = render_gt(head, c_in, k_in, model.cfg.image_size, background=torch.rand(3, generator=gen) * 0.8 + 0.1)
        planes = {"lifter": model(image["rgb"]), "baseline": prior}
        ref_mesh = reference_mesh(head)
        for name, c2w in views.items():
            cam = c_in if c2w is None else orbit_camera(math.radians(c2w), 0.0)
            truth = render_gt(head, cam, k_in, cfg.resolution, background=torch.full((3,), BACKGROUND), torso=False)[
                "rgb"
            ]
            for method, p in planes.items():
                pred = _render(TriplaneField(p, model.decoder), cam, k_in, cfg.resolution)
                rows[method].setdefault(f"psnr_{name}", []).append(psnr(pred, truth).item())
                rows[method].setdefault(f"ssim_{name}", []).append(ssim(pred, truth).item())
        for method, p in planes.items():
            try:
                mesh = mesh_from_field(TriplaneField(p, model.decoder), mesh_cfg)
                ch = chamfer_distance(mesh.vertices, ref_mesh.vertices) * 1000.0
            except EmptySurfaceError:
                ch = float("inf")
            rows[method].setdefault("chamfer_mm", []).append(ch)
    summary: dict = {}
    for method, metrics in rows.items():
        m = {key: float(np.mean(vals)) for key, vals in metrics.items()}
        m["psnr_novel_30"] = float(np.mean(metrics["psnr_novel_-30"] + metrics["psnr_novel_+30"]))
        m["psnr_novel_60"] = float(np.mean(metrics["psnr_novel_-60"] + metrics["psnr_novel_+60"]))
        m["ssim_novel_30"] = float(np.mean(metrics["ssim_novel_-30"] + metrics["ssim_novel_+30"]))
        m["ssim_novel_60"] = float(np.mean(metrics["ssim_novel_-60"] + metrics["ssim_novel_+60"]))
        summary[method] = {key: round(v, 4) for key, v in m.items()}
    lifter, base = summary["lifter"], summary["baseline"]
    result = {
        "psnr_input": lifter["psnr_input"],
        "baseline_psnr_input": base["psnr_input"],
        "psnr_novel_30": lifter["psnr_novel_30"],
        "baseline_psnr_novel_30": base["psnr_novel_30"],
        "psnr_novel_60": lifter["psnr_novel_60"],
        "baseline_psnr_novel_60": base["psnr_novel_60"],
        "ssim_input": lifter["ssim_input"],
        "baseline_ssim_input": base["ssim_input"],
        "ssim_novel_30": lifter["ssim_novel_30"],
        "baseline_ssim_novel_30": base["ssim_novel_30"],
        "ssim_novel_60": lifter["ssim_novel_60"],
        "baseline_ssim_novel_60": base["ssim_novel_60"],
        "chamfer": lifter["chamfer_mm"],
        "baseline_chamfer": base["chamfer_mm"],
        "chamfer_units": "mm",
        "heads": cfg.heads,
        "first_seed": cfg.seed,
        "resolution": cfg.resolution,
        "per_view": summary,
    }
    better = [
        k
        for k in ("psnr_input", "psnr_novel_30", "psnr_novel_60", "ssim_input", "ssim_novel_30", "ssim_novel_60")
        if result[k] > result[f"baseline_{k}"]
    ]
    result["beats_baseline_on_every_metric"] = len(better) == 6 and result["chamfer"] < result["baseline_chamfer"]
    return result


def markdown_report(result: dict) -> str:
    """The encoder result as a Markdown table (lifter vs mean head)."""
    lines = [
        "# Lifter evaluation (held-out synthetic identities)",
        "",
        f"{result['heads']} identities (seeds {result['first_seed']}+), renders {result['resolution']} px, "
        "head alone over grey; input yaw/pitch within +-15 deg.",
        "",
        "| metric | lifter | mean head |",
        "|---|---|---|",
    ]
    for key in ("psnr_input", "psnr_novel_30", "psnr_novel_60", "ssim_input", "ssim_novel_30", "ssim_novel_60"):
        lines.append(f"| {key} | {result[key]:.3f} | {result['baseline_' + key]:.3f} |")
    lines.append(f"| chamfer (mm, lower is better) | {result['chamfer']:.2f} | {result['baseline_chamfer']:.2f} |")
    lines += ["", f"Beats the mean head on every metric: **{result['beats_baseline_on_every_metric']}**", ""]
    return "\n".join(lines)


def write_report(result: dict, out: Path) -> tuple[Path, Path]:
    """Write `{"encoder": result}` as JSON and the Markdown table beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"encoder": result}, indent=2) + "\n")
    md = out.with_suffix(".md")
    md.write_text(markdown_report(result))
    return out, md
