"""`headfuse eval --protocol planefit`: is the blur the lifter's, or the representation's?

For each held-out sample (the `lifters` protocol's, made as at test time) the lifter's triplane is the
start; then the triplane itself is optimised, the lifter's decoder frozen, against the sample's own
renders, and every view is scored before and after (PSNR over the sample's background):

- `all_views`: fitted to every view (the input and the novel ones): what this decoder can show of the
  head from planes of this size, a ceiling for any lifter that feeds it;
- `input_view`: fitted to the input view only (the crop's true camera): what fitting the plate at test
  time would give, and what it does to the views the plate cannot see.

The report holds one row per method (`lifter`, `input_view`, `all_views`) and a strip: for each sample,
the input and two novel views of each method, then the truth.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from backend.config import RenderConfig
from backend.eval.lifter_compare import render_over_background, sample_batch, tile, write_strip_report
from backend.metrics import psnr
from backend.models.lifter import Lifter

FITS = {"input_view": [0], "all_views": None}
"""Each fit and the views it is fitted to (view 0 is the input's; None: every view)."""


@dataclass
class PlaneFitConfig:
    """The plane-fitting evaluation."""

    heads: int = 4
    """Held-out samples (identities)."""
    view_res: int = 64
    """Side of the fitted and compared renders in pixels (at most the held-out cache's)."""
    iters: int = 300
    """Adam steps of each fit (one view a step, in turn)."""
    lr: float = 0.02
    """Adam's learning rate on the plane features."""
    fit_samples: tuple[int, int] = (24, 16)
    """Coarse and fine samples per ray while fitting (the scores use 48 and 48)."""
    strip_heads: int = 4
    """Samples shown in the strip."""


def fit_planes(lifter: Lifter, planes: torch.Tensor, batch: dict, views: list[int], cfg: PlaneFitConfig):
    """`planes [1, 3, C, P, P]` optimised (the decoder frozen) so that `lifter.field` renders `batch`'s
    `views` (L1, one view a step in turn); returns the fitted planes, detached."""
    trainable = [p for p in lifter.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    fitted = planes.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([fitted], lr=cfg.lr)
    rcfg = RenderConfig(n_coarse=cfg.fit_samples[0], n_fine=cfg.fit_samples[1])
    rcfg.background = 0.0
    try:
        for step in range(cfg.iters):
            v = views[step % len(views)]
            pred = render_over_background(lifter.field(fitted), batch, v, cfg.view_res, rcfg)
            loss = (pred - batch["view_rgb"][:, v]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in trainable:
            p.requires_grad_(True)
    return fitted.detach()


def evaluate_plane_fit(lifter: Lifter, heldout: Path, cfg: PlaneFitConfig | None = None,
                       progress: bool = True) -> dict:  # fmt: skip
    """`{"methods": {method: {"psnr_input", "psnr_novel"}}, "heads", ...}` for the lifter and each fit of
    `FITS`, plus `strip` `[rows, cols, 3]` uint8 (not JSON; `write_report` saves it as PNG)."""
    from backend.train.sample_cache import SampleCache

    cfg = cfg or PlaneFitConfig()
    data = SampleCache(heldout)
    heads = min(cfg.heads, len(data.indices))
    score = RenderConfig(n_coarse=48, n_fine=48)
    score.background = 0.0
    rows: dict[str, dict[str, list[float]]] = {m: {"psnr_input": [], "psnr_novel": []} for m in ["lifter", *FITS]}
    strip = []
    for k in tqdm(range(heads), desc="eval planefit", unit="head", disable=not progress):
        b = sample_batch(data, data.indices[k], cfg.view_res)
        n_views = b["view_c2w"].shape[1]
        with torch.no_grad():
            start = lifter(b["image"], b["geometry"], b["cam2world"], b["intrinsics"])
        planes = {"lifter": start}
        for name, views in FITS.items():
            planes[name] = fit_planes(lifter, start, b, views or list(range(n_views)), cfg)
        tiles = []
        for name, p in planes.items():
            with torch.no_grad():
                preds = [render_over_background(lifter.field(p), b, v, cfg.view_res, score) for v in range(n_views)]
            scores = [psnr(pred, b["view_rgb"][:, v]).item() for v, pred in enumerate(preds)]
            rows[name]["psnr_input"].append(scores[0])
            rows[name]["psnr_novel"].append(float(np.mean(scores[1:])))
            tiles += [tile(pred[0], cfg.view_res) for pred in preds[:3]]
        if k < cfg.strip_heads:
            tiles += [tile(b["view_rgb"][0, v], cfg.view_res) for v in range(3)]
            strip.append(np.concatenate(tiles, axis=1))
    methods = {name: {key: round(float(np.mean(v)), 3) for key, v in m.items()} for name, m in rows.items()}
    return {
        "methods": methods,
        "heads": heads,
        "view_res": cfg.view_res,
        "iters": cfg.iters,
        "columns": [f"{n} {v}" for n in rows for v in ("input", "novel a", "novel b")] + ["truth x3"],
        "strip": np.concatenate(strip, axis=0),
    }


def markdown_report(result: dict) -> str:
    """The plane-fit evaluation as a Markdown table."""
    lines = [
        "# The lifter's planes against planes fitted to the views (decoder frozen)",
        "",
        f"{result['heads']} held-out identities, renders {result['view_res']} px over each sample's background, "
        f"{result['iters']} Adam steps per fit. `input_view`: the planes fitted to the input view only; "
        "`all_views`: fitted to every view (the ceiling of this decoder and plane size).",
        "",
        "| method | PSNR input | PSNR novel |",
        "|---|---|---|",
    ]
    for name, m in result["methods"].items():
        lines.append(f"| {name} | {m['psnr_input']:.2f} | {m['psnr_novel']:.2f} |")
    lines += ["", "Strip columns: " + ", ".join(result["columns"]) + ".", ""]
    return "\n".join(lines)


def write_report(result: dict, out: Path) -> tuple[Path, Path, Path]:
    """Write `{"planefit": ...}` as JSON, the Markdown table and the strip PNG beside it."""
    return write_strip_report(result, out, "planefit", markdown_report(result))
