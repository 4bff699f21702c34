"""Volume rendering of a field: one functional entry point per operation.

`render_rays_reference` is the plain path (every ray at once). `render_rays` is the fast path:
rays that miss the box are skipped and the rest go through in chunks of bounded size; a parity
test holds it to the reference. `render_image` renders whole cameras.
"""

import torch

from backend.config import RenderConfig
from backend.render.field import Field
from backend.render.rays import generate_rays, ray_box_intersection
from backend.render.volume import composite, sample_pdf, stratified_depths


def _march(field: Field, origins, dirs, near, far, cfg: RenderConfig, generator=None) -> dict[str, torch.Tensor]:
    """Coarse + importance samples for rays `[B, R, 3]` with limits `[B, R, 1]`."""
    depths = stratified_depths(near, far, cfg.n_coarse, cfg.perturb, generator)  # [B, R, S]
    B, R, S = depths.shape
    pts = origins[..., None, :] + dirs[..., None, :] * depths[..., None]  # [B, R, S, 3]
    density, feats = field(pts.reshape(B, R * S, 3))
    density, feats = density.reshape(B, R, S, 1), feats.reshape(B, R, S, -1)
    if cfg.n_fine > 0:
        out = composite(density, feats, depths, far)
        mids = 0.5 * (depths[..., 1:] + depths[..., :-1])
        bins = torch.cat([near, mids, far], dim=-1)  # [B, R, S+1]
        fine = sample_pdf(bins, out["weights"].detach(), cfg.n_fine, cfg.perturb, generator).detach()
        pts_f = origins[..., None, :] + dirs[..., None, :] * fine[..., None]
        density_f, feats_f = field(pts_f.reshape(B, R * cfg.n_fine, 3))
        depths = torch.cat([depths, fine], dim=-1)
        density = torch.cat([density, density_f.reshape(B, R, cfg.n_fine, 1)], dim=-2)
        feats = torch.cat([feats, feats_f.reshape(B, R, cfg.n_fine, -1)], dim=-2)
        depths, order = torch.sort(depths, dim=-1)
        density = density.gather(-2, order[..., None])
        feats = feats.gather(-2, order[..., None].expand_as(feats))
    out = composite(density, feats, depths, far)
    rgb = out["features"][..., :3] + (1.0 - out["opacity"]) * cfg.background
    return {"rgb": rgb, "depth": out["depth"], "opacity": out["opacity"], "features": out["features"]}


def render_rays_reference(
    field: Field, origins: torch.Tensor, dirs: torch.Tensor, cfg: RenderConfig | None = None, generator=None
) -> dict[str, torch.Tensor]:
    """Render rays `origins, dirs [B, R, 3]` all at once.

    Returns rgb `[B, R, 3]`, depth `[B, R, 1]`, opacity `[B, R, 1]`, features `[B, R, F]`.
    """
    cfg = cfg or RenderConfig()
    near, far, _ = ray_box_intersection(origins, dirs, cfg.box_half)
    return _march(field, origins, dirs, near, far, cfg, generator)


def render_rays(
    field: Field, origins: torch.Tensor, dirs: torch.Tensor, cfg: RenderConfig | None = None, generator=None
) -> dict[str, torch.Tensor]:
    """Fast path of `render_rays_reference`, same inputs and outputs.

    Rays are reordered so that, in every batch element, the ones that hit the box come first;
    only the first max-hit-count rays are marched, `cfg.chunk_rays` at a time.
    """
    cfg = cfg or RenderConfig()
    B, R, _ = origins.shape
    near, far, hit = ray_box_intersection(origins, dirs, cfg.box_half)
    order = torch.argsort(hit.to(torch.int8), dim=1, descending=True, stable=True)  # [B, R]
    n_live = int(hit.sum(dim=1).max().item()) if R else 0

    def take(x, idx):
        return x.gather(1, idx[..., None].expand(-1, -1, x.shape[-1]))

    parts: list[dict[str, torch.Tensor]] = []
    for start in range(0, n_live, cfg.chunk_rays):
        idx = order[:, start : min(start + cfg.chunk_rays, n_live)]
        parts.append(
            _march(field, take(origins, idx), take(dirs, idx), take(near, idx), take(far, idx), cfg, generator)
        )
    n_feat = parts[0]["features"].shape[-1] if parts else 3
    out = {
        "rgb": torch.full((B, R, 3), float(cfg.background), device=origins.device),
        "depth": far.clone(),
        "opacity": torch.zeros(B, R, 1, device=origins.device),
        "features": torch.zeros(B, R, n_feat, device=origins.device),
    }
    if parts:
        live = order[:, :n_live]
        for key in out:
            vals = torch.cat([p[key] for p in parts], dim=1)
            out[key] = out[key].scatter(1, live[..., None].expand(-1, -1, vals.shape[-1]), vals)
    return out


def render_image(
    field: Field,
    cam2world: torch.Tensor,
    intrinsics: torch.Tensor,
    resolution,
    cfg: RenderConfig | None = None,
    reference: bool = False,
    generator=None,
) -> dict[str, torch.Tensor]:
    """Render cameras `cam2world [B, 4, 4]`, `intrinsics [B, 3, 3]` at `resolution` (int or (H, W)).

    Returns images: rgb `[B, 3, H, W]`, depth `[B, 1, H, W]`, opacity `[B, 1, H, W]`,
    features `[B, F, H, W]`. Depth is the distance along the ray.
    """
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    origins, dirs = generate_rays(cam2world, intrinsics, (h, w))
    fn = render_rays_reference if reference else render_rays
    out = fn(field, origins, dirs, cfg, generator)
    return {k: v.transpose(1, 2).reshape(v.shape[0], v.shape[-1], h, w) for k, v in out.items()}
