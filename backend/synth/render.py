"""Fast ground-truth images: sphere tracing of the head SDF (plus torso and background) in torch.

The head (the field) and the torso (image only, outside the field's job) are traced separately
and the nearer hit wins, so a head pixel never depends on the torso. Shoulder rotation turns the
torso about `NECK_BASE` by transforming the torso's lookup points (the rays are warped into the
torso's own frame); the head field is untouched.
"""

import torch

from backend.render.rays import generate_rays
from backend.synth.head import SynthHead
from backend.synth.lighting import Lighting
from backend.synth.sdf import ellipsoid, rotation_matrix, smin

NECK_BASE = (0.0, -0.43, -0.03)
"""Pivot of the shoulder rotation (the base of the neck), head frame."""
_HEAD_SPHERE = ((0.0, -0.02, 0.02), 0.58)
_TORSO_SPHERE = ((0.0, -0.72, -0.04), 0.6)
_TORSO = (((0.0, -0.7, -0.04), (0.44, 0.3, 0.17)), ((0.0, -0.47, -0.05), (0.2, 0.09, 0.11)))


def torso_sdf(points: torch.Tensor, rotation: torch.Tensor | None = None) -> torch.Tensor:
    """Signed distance `[N]` of shoulders + chest at points `[N, 3]`, turned by `rotation [3, 3]`."""
    if rotation is not None:
        pivot = torch.tensor(NECK_BASE)
        points = (points - pivot) @ rotation + pivot  # world -> torso frame (R^T applied to rows)
    (c0, r0), (c1, r1) = _TORSO
    return smin(
        ellipsoid(points, torch.tensor(c0), torch.tensor(r0)),
        ellipsoid(points, torch.tensor(c1), torch.tensor(r1)),
        0.06,
    )


def _sphere_limits(o: torch.Tensor, d: torch.Tensor, sphere) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    c, r = torch.tensor(sphere[0]), sphere[1]
    oc = o - c
    b = (oc * d).sum(-1)
    disc = b * b - ((oc * oc).sum(-1) - r * r)
    hit = disc > 0
    sq = disc.clamp_min(0).sqrt()
    return (-b - sq).clamp_min(0.0), -b + sq, hit & (-b + sq > 0)


def sphere_trace(
    sdf,
    origins: torch.Tensor,
    dirs: torch.Tensor,
    sphere,
    pixel_angle: float,
    t_start: torch.Tensor | None = None,
    max_steps: int = 32,
    relax: float = 1.0,
    eps_px: float = 0.5,
    tail: float = 0.015,
) -> tuple[torch.Tensor, torch.Tensor]:
    """First zero of `sdf` along rays `origins, dirs [R, 3]` inside a bounding sphere.

    A ray hits when the distance falls below `eps_px` of its pixel's footprint (`pixel_angle`
    radians per pixel); hits are then refined with two plain steps, which lands them on the zero
    level to well under a pixel. Rays passing the silhouette closer than `eps_px` count as hits,
    so silhouettes may grow by up to a pixel against the reference path. Marching stops after
    `max_steps`, or once fewer than `tail` of the rays are still marching (they graze the
    silhouette); those hit when within one footprint.
    `t_start [R]` (from `cone_prepass`) skips space known to be empty. Only live rays are evaluated
    at each step. Returns depth `[R]` (distance along the ray) and hit `[R]` (bool).
    """
    t_near, t_far, live = _sphere_limits(origins, dirs, sphere)
    t = t_near if t_start is None else torch.maximum(t_near, t_start)
    hit = torch.zeros_like(live)
    idx = (live & (t < t_far)).nonzero().squeeze(1)
    last = torch.full_like(t, float("inf"))
    eps_scale = eps_px * pixel_angle
    min_live = int(tail * idx.numel())
    for _ in range(max_steps):
        if idx.numel() <= min_live:
            break
        ti = t[idx]
        s = sdf(origins[idx] + dirs[idx] * ti[:, None])
        last[idx] = s
        done = s < eps_scale * ti
        hit[idx[done]] = True
        ti = ti + relax * s
        t[idx] = ti
        idx = idx[~done & (ti < t_far[idx])]
    if idx.numel():
        hit[idx[last[idx] < pixel_angle * t[idx]]] = True
    hidx = hit.nonzero().squeeze(1)
    for _ in range(2):
        if hidx.numel():
            t[hidx] = t[hidx] + sdf(origins[hidx] + dirs[hidx] * t[hidx, None])
    return t, hit


def cone_prepass(
    sdf, origins: torch.Tensor, dirs: torch.Tensor, sphere, cone_angle: float, max_steps: int = 12
) -> torch.Tensor:
    """Cone marching along block-centre rays `[R, 3]`: how far each block's cone is surely empty.

    Every ray within `cone_angle` of a centre ray may start at the returned distance `[R]`
    (0 where the centre ray misses the bounding sphere).
    """
    t_near, t_far, live = _sphere_limits(origins, dirs, sphere)
    t = torch.where(live, t_near, torch.zeros_like(t_near))
    idx = live.nonzero().squeeze(1)
    a = cone_angle
    for _ in range(max_steps):
        if idx.numel() == 0:
            break
        ti = t[idx]
        s = sdf(origins[idx] + dirs[idx] * ti[:, None])
        step = (s - ti * a) / (1.0 + a)
        go = step > 2e-3
        ti = ti + step.clamp_min(0.0)
        t[idx] = ti
        idx = idx[go & (ti < t_far[idx])]
    return t


def trace_image(
    sdf, cam2world: torch.Tensor, intrinsics: torch.Tensor, resolution, sphere, reference: bool = False, block: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sphere-trace whole cameras (`[B, 4, 4]`, `[B, 3, 3]`) with a cone-marching prepass.

    `reference=True` is the plain path: no prepass, small cautious steps, a tight hit threshold
    and many steps (slow; the parity test holds the fast path to it). Returns depth `[B, H*W]`
    and hit `[B, H*W]`, pixels row-major.
    """
    B = cam2world.shape[0]
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    o, d = generate_rays(cam2world, intrinsics, (h, w))  # [B, H*W, 3]
    f = float(torch.minimum(intrinsics[:, 0, 0], intrinsics[:, 1, 1]).min())
    pixel_angle = 1.0 / (f * max(h, w))
    if reference:
        t, hit = sphere_trace(
            sdf,
            o.reshape(-1, 3),
            d.reshape(-1, 3),
            sphere,
            pixel_angle,
            None,
            max_steps=400,
            relax=0.6,
            eps_px=0.02,
            tail=0.0,
        )
        return t.reshape(B, h * w), hit.reshape(B, h * w)
    t_start = None
    if block > 1 and h % block == 0 and w % block == 0 and h >= 8 * block:
        oc, dc = generate_rays(cam2world, intrinsics, (h // block, w // block))
        tc = cone_prepass(sdf, oc.reshape(-1, 3), dc.reshape(-1, 3), sphere, 1.1 * block * 0.7072 * pixel_angle)
        tc = tc.reshape(B, h // block, 1, w // block, 1).expand(B, h // block, block, w // block, block)
        t_start = tc.reshape(-1)
    t, hit = sphere_trace(sdf, o.reshape(-1, 3), d.reshape(-1, 3), sphere, pixel_angle, t_start)
    return t.reshape(B, h * w), hit.reshape(B, h * w)


def _torso_normals(points: torch.Tensor, rotation: torch.Tensor | None, h: float = 5e-4) -> torch.Tensor:
    e = torch.eye(3) * h
    g = torch.stack([torso_sdf(points + e[i], rotation) - torso_sdf(points - e[i], rotation) for i in range(3)], -1)
    return torch.nn.functional.normalize(g, dim=-1)


def clothes_colour(head: SynthHead) -> torch.Tensor:
    """Albedo `[3]` of the head's clothes (from its identity)."""
    i = head.identity
    return torch.tensor([i.clothes_r, i.clothes_g, i.clothes_b])


@torch.no_grad()
def render_gt(
    head: SynthHead,
    cam2world: torch.Tensor,
    intrinsics: torch.Tensor,
    resolution,
    shoulders: torch.Tensor | None = None,
    background: torch.Tensor | None = None,
    torso: bool = True,
    lighting: Lighting | None = None,
    reference: bool = False,
) -> dict[str, torch.Tensor]:
    """Ground-truth images of `head` from cameras `cam2world [B, 4, 4]`, `intrinsics [B, 3, 3]`.

    `resolution` is an int or (H, W). `shoulders` `[3]` or `[B, 3]`: shoulder (yaw, pitch, roll)
    in radians; `background` `[3]` or `[B, 3]` RGB (default mid grey); `lighting` defaults to the
    head's own. Returns rgb `[B, 3, H, W]`, mask `[B, 1, H, W]` (any surface), head_mask
    `[B, 1, H, W]` (the field's surface is the nearest), depth `[B, 1, H, W]` (distance along the
    ray to the nearest surface, 0 where there is none), head_depth `[B, 1, H, W]` (the field's
    own depth whether or not the torso hides it, 0 where it is missed). `reference=True` traces
    with the plain, slow path (see `trace_image`).
    """
    assert cam2world.dim() == 3 and cam2world.shape[1:] == (
        4,
        4,
    ), f"cam2world must be [B,4,4], got {tuple(cam2world.shape)}"
    B = cam2world.shape[0]
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    light = lighting or head.lighting
    c2w, K = cam2world.float().cpu(), intrinsics.float().cpu()
    origins, dirs = generate_rays(c2w, K, (h, w))
    o, d = origins.reshape(-1, 3), dirs.reshape(-1, 3)  # [R, 3]
    R = o.shape[0]
    # one camera at a time, so an image never depends on the others in the batch
    traced = [trace_image(head.sdf, c2w[b : b + 1], K[b : b + 1], (h, w), _HEAD_SPHERE, reference) for b in range(B)]
    t_head = torch.cat([t[0] for t, _ in traced])  # [R]
    hit_head = torch.cat([m[0] for _, m in traced])
    rgb = torch.zeros(R, 3)
    depth = torch.zeros(R)
    head_first = hit_head.clone()
    hit_torso = torch.zeros_like(hit_head)
    if torso:
        sh = (
            torch.zeros(B, 3)
            if shoulders is None
            else torch.as_tensor(shoulders, dtype=torch.float32).reshape(-1, 3).expand(B, 3)
        )
        for b in range(B):
            rot = rotation_matrix(*sh[b].tolist())
            sl = slice(b * h * w, (b + 1) * h * w)
            t_t, hit_t = trace_image(
                lambda p, r=rot: torso_sdf(p, r), c2w[b : b + 1], K[b : b + 1], (h, w), _TORSO_SPHERE, reference
            )
            t_t, hit_t = t_t[0], hit_t[0]
            torso_first = hit_t & (~hit_head[sl] | (t_t < t_head[sl]))
            hit_torso[sl] = torso_first
            head_first[sl] &= ~torso_first
            ti = torso_first.nonzero().squeeze(1)
            if ti.numel():
                p = o[sl][ti] + d[sl][ti] * t_t[ti, None]
                alb = clothes_colour(head).expand(ti.shape[0], 3)
                idx = ti + b * h * w
                rgb[idx] = light.shade(alb, _torso_normals(p, rot))
                depth[idx] = t_t[ti]
    hi = head_first.nonzero().squeeze(1)
    if hi.numel():
        p = o[hi] + d[hi] * t_head[hi, None]
        rgb[hi] = light.shade(head.albedo(p), head.normals(p))
        depth[hi] = t_head[hi]
    mask = head_first | hit_torso
    bg = (
        torch.full((B, 3), 0.5)
        if background is None
        else torch.as_tensor(background, dtype=torch.float32).reshape(-1, 3).expand(B, 3)
    )
    rgb = torch.where(mask[:, None], rgb, bg.repeat_interleave(h * w, 0))

    def img(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(B, h, w, -1).permute(0, 3, 1, 2).contiguous()

    return {
        "rgb": img(rgb),
        "mask": img(mask.float()),
        "head_mask": img(head_first.float()),
        "depth": img(depth),
        "head_depth": img(torch.where(hit_head, t_head, torch.zeros_like(t_head))),
    }
