"""`headfuse eval --protocol lifters`: lifters side by side on held-out samples made as at test time.

Every held-out sample (identity seeds from `HELDOUT_SEED`, never trained on) is a rendered plate
taken through MediaPipe and the pose solve (`train.sample_cache.TrackedSampler`), so each lifter
gets exactly what the pipeline would give it: the crop, its solved camera and its face mesh. Its
field is rendered at the crop's true camera (`input`) and at four cameras around the head, spread
over +-100 deg of yaw from the input's (`novel`), and compared with the exact ground truth over the
sample's own background: PSNR and SSIM. The mean head (the first lifter's average triplane over
training inputs) is the floor: what a lifter that ignores its input would score.

The report holds one row per method and a strip: for the first samples, the crop, then per method
the input view and two novel views, the truth last.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from backend.config import RenderConfig
from backend.eval.encoder_report import HELDOUT_SEED, mean_triplane
from backend.metrics import psnr, ssim
from backend.models.lifter import Lifter
from backend.render.renderer import render_image


@dataclass
class LifterCompareConfig:
    """The side-by-side evaluation of lifters."""

    heads: int = 48
    """Held-out samples (identities)."""
    view_res: int = 64
    """Side of the compared renders in pixels."""
    mean_head_samples: int = 200
    """Training inputs averaged into the mean-head triplane."""
    strip_heads: int = 6
    """Samples shown in the strip."""


def heldout_cache(root: Path, cfg: LifterCompareConfig, image_size: int, progress: bool = True) -> Path:
    """The held-out tracked samples in `root` (made if missing)."""
    from backend.train.sample_cache import build_cache

    return build_cache(
        root, cfg.heads, seed=HELDOUT_SEED, image_size=image_size, view_res=cfg.view_res, tracked=True,
        progress=progress,
    )


@torch.no_grad()
def compare_lifters(
    lifters: dict[str, Lifter],
    heldout: Path,
    training: Path,
    cfg: LifterCompareConfig | None = None,
    progress: bool = True,
) -> dict:
    """`{"methods": {name: metrics}, "heads": n, ...}` for each lifter and the mean head of the first global one,
    plus `strip` `[rows, cols, 3]` uint8 (not JSON; `write_report` saves it as PNG)."""
    from backend.train.sample_cache import SampleCache, read_failures

    cfg = cfg or LifterCompareConfig()
    data = SampleCache(heldout)
    first = next(m for m in lifters.values() if not m.needs_geometry)  # the mean head is a global lifter's
    prior = mean_triplane(first, training, cfg.mean_head_samples)
    rcfg = RenderConfig(n_coarse=48, n_fine=48)
    rcfg.background = 0.0
    rows: dict[str, dict[str, list[float]]] = {name: {} for name in ["mean_head", *lifters]}
    strip: list[np.ndarray] = []
    for k in tqdm(range(len(data.indices)), desc="eval lifters", unit="head", disable=not progress):
        b = sample_batch(data, data.indices[k], cfg.view_res)
        tiles = [tile(b["image"][0], cfg.view_res)]
        for name in rows:
            model = first if name == "mean_head" else lifters[name]
            planes = prior if name == "mean_head" else model(b["image"], b["geometry"], b["cam2world"], b["intrinsics"])
            field = model.field(planes)
            preds = []
            for v in range(b["view_c2w"].shape[1]):
                pred = render_over_background(field, b, v, cfg.view_res, rcfg)
                truth = b["view_rgb"][:, v]
                key = "input" if v == 0 else "novel"
                rows[name].setdefault(f"psnr_{key}", []).append(psnr(pred, truth).item())
                rows[name].setdefault(f"ssim_{key}", []).append(ssim(pred, truth).item())
                preds.append(pred[0])
            if k < cfg.strip_heads:
                tiles += [tile(p, cfg.view_res) for p in preds[:3]]
        if k < cfg.strip_heads:
            tiles += [tile(b["view_rgb"][0, v], cfg.view_res) for v in range(3)]
            strip.append(np.concatenate(tiles, axis=1))
    methods = {name: {key: round(float(np.mean(v)), 3) for key, v in m.items()} for name, m in rows.items()}
    return {
        "methods": methods,
        "heads": len(data),
        "failed_heldout": len(read_failures(heldout)),
        "first_seed": HELDOUT_SEED,
        "view_res": cfg.view_res,
        "columns": ["crop", *[f"{n} {v}" for n in rows for v in ("input", "novel a", "novel b")], "truth x3"],
        "strip": np.concatenate(strip, axis=0),
    }


def sample_batch(data, index: int, view_res: int) -> dict[str, torch.Tensor]:
    """Sample `index` whole (every view, in order) as a batch of one."""
    from backend.face.geometry import geometry_channels

    s = data.load(index)
    S = s["image"].shape[0]
    geometry = geometry_channels(s["crop_landmarks"], s["template_points"], S)
    rgb = torch.from_numpy(s["view_rgb"]).permute(0, 3, 1, 2).float() / 255
    if rgb.shape[-1] != view_res:
        rgb = torch.nn.functional.interpolate(rgb, size=view_res, mode="area")
    return {
        "image": torch.from_numpy(s["image"]).permute(2, 0, 1).float()[None] / 255,
        "geometry": torch.from_numpy(geometry)[None],
        "cam2world": torch.from_numpy(s["cam2world"])[None],
        "intrinsics": torch.from_numpy(s["intrinsics"])[None],
        "view_c2w": torch.from_numpy(s["view_c2w"])[None],
        "view_K": torch.from_numpy(s["view_K"])[None],
        "view_rgb": rgb[None],
        "background": torch.from_numpy(s["background"])[None],
    }


def render_over_background(field, batch: dict, view: int, res: int, rcfg: RenderConfig) -> torch.Tensor:
    """View `view` of a `sample_batch` rendered from `field` over the sample's background (`rcfg.background`
    0): `[1, 3, res, res]` in 0..1."""
    out = render_image(field, batch["view_c2w"][:, view], batch["view_K"][:, view], res, rcfg)
    return (out["rgb"] + (1 - out["opacity"]) * batch["background"][:, :, None, None]).clamp(0, 1)


def tile(image: torch.Tensor, size: int) -> np.ndarray:
    """`[3, h, w]` 0..1 -> `[size, size, 3]` uint8."""
    image = torch.nn.functional.interpolate(image[None], size=size, mode="area")[0]
    return (image.permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def markdown_report(result: dict) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "# Lifters on held-out samples made as at test time",
        "",
        f"{result['heads']} held-out identities (seeds {result['first_seed']}+; {result['failed_heldout']} more "
        f"failed in MediaPipe or the pose solve), renders {result['view_res']} px over each sample's background. "
        "`input`: the crop's true camera; `novel`: four cameras spread over +-100 deg of yaw around it.",
        "",
        "| method | PSNR input | PSNR novel | SSIM input | SSIM novel |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["methods"].items():
        psnr_cells = f"{m['psnr_input']:.2f} | {m['psnr_novel']:.2f}"
        lines.append(f"| {name} | {psnr_cells} | {m['ssim_input']:.3f} | {m['ssim_novel']:.3f} |")
    lines += ["", "Strip columns: " + ", ".join(result["columns"]) + ".", ""]
    return "\n".join(lines)


def write_strip_report(result: dict, out: Path, key: str, markdown: str) -> tuple[Path, Path, Path]:
    """Write `{key: result}` (all but its `strip`) as JSON at `out`, `markdown` and the strip PNG beside it."""
    import cv2

    out.parent.mkdir(parents=True, exist_ok=True)
    body = {k: v for k, v in result.items() if k != "strip"}
    out.write_text(json.dumps({key: body}, indent=2) + "\n")
    md, png = out.with_suffix(".md"), out.with_suffix(".png")
    md.write_text(markdown)
    cv2.imwrite(str(png), cv2.cvtColor(result["strip"], cv2.COLOR_RGB2BGR))
    return out, md, png


def write_report(result: dict, out: Path) -> tuple[Path, Path, Path]:
    """Write `{"lifters": ...}` as JSON, the Markdown table and the strip PNG beside it."""
    return write_strip_report(result, out, "lifters", markdown_report(result))
