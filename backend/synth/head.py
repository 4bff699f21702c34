"""The synthetic head: a signed distance function + lit colour of head and neck, as a Field.

Coordinates: the canonical head frame (y up, face towards +z, box units). A point p goes
through three maps before the template shapes are evaluated:

    p  --(identity scale)-->  p_t (template frame)  --(expression warps)-->  p_b (base frame)

The expression warps have compact support inside `expression.REGIONS`, so outside those regions
p_b == p_t exactly and nothing moves. Mouth cavity and tongue live in the template frame; every
other part (skin mass, eyes, hair, painted features) lives in the base frame and moves with the
warps. Density is `2 * SURFACE_DENSITY * sigmoid(-sdf / SHELL)`, so the zero level of the SDF is
exactly the iso-level meshes are extracted at.
"""

import math

import torch

from backend.render.field import SURFACE_DENSITY
from backend.synth.expression import REGIONS, Expression
from backend.synth.identity import Identity
from backend.synth.lighting import Lighting
from backend.synth.sdf import (
    EllipsoidSet,
    axis_rotation_x,
    bump,
    flat_ellipsoid,
    quadratic_features,
    smax,
    smin,
    smin_exp,
    smoothstep,
)

SHELL = 0.0025
"""Width (box units) of the density's sigmoid shell around the SDF zero level."""
NECK_CUT_Y = -0.47
"""The neck ends in a flat cut at this height (inside the box, so meshes are closed)."""
KEYPOINT_NAMES = (
    "left_eye_outer",
    "left_eye_inner",
    "right_eye_inner",
    "right_eye_outer",
    "mouth_left",
    "mouth_right",
    "nose_tip",
    "chin",
)
"""3D keypoints; left/right are the subject's own (the subject's left is +x)."""

LABEL_SKIN, LABEL_HAIR, LABEL_EYE, LABEL_MOUTH, LABEL_TONGUE = range(5)
_SMIN_K = 0.011
_CHUNK = 65536
_Y_MOUTH = -0.1125
_Y_OFFSET = -0.02
_GLOBAL_SCALE = 1.04  # template -> head frame for scale 1: portrait framing of the default camera
_HINGE = (0.0, 0.01, 0.03)
_TETRA = torch.tensor([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, 1.0, 1.0]])


def _rot_y(a: float) -> torch.Tensor:
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def _lerp(a, b, t):
    return a + (b - a) * t


class SynthHead:
    """Head + neck of one identity with one expression under one lighting.

    Call it as a Field: `points [B, N, 3] -> (density [B, N, 1], rgb [B, N, 3])`, rgb being the lit,
    view-independent colour. `sdf`, `albedo`, `normals`, `colour` work on flat points `[N, 3]`.
    """

    def __init__(self, identity: Identity, expression: Expression | None = None, lighting: Lighting | None = None):
        self.identity = identity
        self.expression = expression or Expression.neutral()
        self.lighting = lighting or Lighting.studio()
        self._build()

    # ------------------------------------------------------------------ construction
    def _build(self) -> None:
        idt, ex = self.identity, self.expression
        s = idt.scale * _GLOBAL_SCALE
        self.scale = torch.tensor([s * idt.width, s, s * idt.depth])  # template -> head frame
        self.offset = torch.tensor([0.0, _Y_OFFSET, 0.0])  # template origin in the head frame
        self.dist_scale = float(self.scale.min())
        es, nl, nw, npj = idt.eye_size, idt.nose_length, idt.nose_width, idt.nose_projection
        lw, lf, cd, chs = idt.lip_width, idt.lip_fullness, idt.chin_drop, idt.chin_size
        self.eye_x = 0.07 + idt.eye_spacing
        self.eye_y = 0.035 + idt.eye_height
        self.eye_z = 0.228
        self.eye_r = 0.034 * es
        tip_y, tip_z = 0.06 - 0.097 * nl, 0.25 + 0.072 * npj
        self.nose_tip = (0.0, tip_y, tip_z)
        self.nose_tip_r = (0.022 * nw**0.5, 0.021, 0.022)
        self.lips = (
            ((0.0, -0.098, 0.262), (0.052 * lw, 0.015 * lf, 0.02 * lf**0.5)),
            ((0.0, -0.127, 0.256), (0.048 * lw, 0.016 * lf, 0.022 * lf**0.5)),
        )
        self.chin = ((0.0, -0.19 - cd, 0.205), (0.055 * chs, 0.045 * chs, 0.045 * chs))
        ck = idt.cheek**0.5
        prims = [  # centre, radii, rotation (world offset -> local axes)
            ((0.0, 0.08, -0.01), (0.185, 0.215, 0.235), None),  # cranium
            ((0.0, 0.14, 0.12), (0.15, 0.10, 0.125), None),  # forehead
            ((0.0, -0.03, 0.10), (0.165, 0.17, 0.16), None),  # mid face
            ((0.0, -0.13 - cd / 2, 0.10), (0.115 * idt.jaw_width, 0.09 + cd / 2, 0.14), None),  # jaw
            (*self.chin, None),
            ((0.09, -0.015, 0.185), (0.055 * ck, 0.05 * ck, 0.065 * ck), None),  # cheeks
            ((-0.09, -0.015, 0.185), (0.055 * ck, 0.05 * ck, 0.065 * ck), None),
            ((0.0, 0.075, 0.205 + 0.01 * idt.brow_ridge), (0.13, 0.03, 0.045 * idt.brow_ridge), None),  # brow
            ((0.0, 0.06 - 0.055 * nl, 0.25 + 0.03 * npj), (0.017 * nw, 0.06 * nl, 0.028), axis_rotation_x(0.35)),
            (self.nose_tip, self.nose_tip_r, None),
            ((0.024 * nw, tip_y - 0.008, tip_z - 0.032), (0.016 * nw, 0.014, 0.017), None),  # alae
            ((-0.024 * nw, tip_y - 0.008, tip_z - 0.032), (0.016 * nw, 0.014, 0.017), None),
            (*self.lips[0], None),
            (*self.lips[1], None),
            ((0.185, 0.02, 0.0), tuple(v * idt.ear_size for v in (0.022, 0.055, 0.035)), _rot_y(idt.ear_angle)),
            ((-0.185, 0.02, 0.0), tuple(v * idt.ear_size for v in (0.022, 0.055, 0.035)), _rot_y(-idt.ear_angle)),
            ((self.eye_x, self.eye_y, self.eye_z), (0.04 * es, 0.039 * es, 0.039 * es), None),  # eyelids
            ((-self.eye_x, self.eye_y, self.eye_z), (0.04 * es, 0.039 * es, 0.039 * es), None),
            ((0.0, -0.33, -0.03), (0.1 * idt.neck_width, 0.2, 0.1 * idt.neck_width), None),  # neck
        ]
        self.centres = torch.tensor([p[0] for p in prims], dtype=torch.float32)  # [K, 3]
        self.radii = torch.tensor([p[1] for p in prims], dtype=torch.float32)  # [K, 3]
        self.rots = torch.stack([torch.eye(3) if p[2] is None else p[2] for p in prims])  # [K, 3, 3]
        # expression amounts
        self.jaw_eff = max(ex.jaw_open, 0.55 * ex.tongue_out)
        self.jaw_angle = 0.32 * self.jaw_eff
        gap = 0.28 * self.jaw_angle
        self.cavity_c = torch.tensor([0.0, _Y_MOUTH - gap / 2 + 0.001, 0.25])
        self.cavity_r = torch.tensor([0.046 * lw * (1 + 0.25 * ex.smile - 0.35 * ex.pucker), 0.0025 + gap / 2, 0.06])
        self.tongue_c = torch.tensor([0.0, _Y_MOUTH - 0.75 * gap - 0.004, 0.21 + 0.11 * ex.tongue_out])
        self.tongue_r = torch.tensor([0.03, 0.011, 0.05])
        self.has_tongue = self.jaw_eff > 0
        self.warped = self.jaw_angle > 0 or ex.smile > 0 or ex.pucker > 0 or ex.brow_raise > 0
        # base-frame extras: eye openings (cut from the lids), eyeballs (spheres), long-hair curtain
        # blinking narrows the eye opening and lifts it off the lid (a thin cut would spoil the bound)
        cut_r = (0.03 * es, 0.0135 * es * (1 - 0.75 * ex.blink), 0.03)
        cut_z = self.eye_z + 0.044 + 0.022 * ex.blink
        ball_r = (self.eye_r,) * 3
        extras = [
            ((self.eye_x, self.eye_y, cut_z), cut_r),
            ((-self.eye_x, self.eye_y, cut_z), cut_r),
            ((self.eye_x, self.eye_y, self.eye_z), ball_r),
            ((-self.eye_x, self.eye_y, self.eye_z), ball_r),
        ]
        self.long_hair = idt.hair_side < -0.05
        if self.long_hair:
            length = 0.1 - idt.hair_side
            extras.append(
                (
                    (0.0, 0.1 - length / 2, -0.04),
                    (0.2 + idt.hair_thickness, length / 2 + 0.12, 0.215 + idt.hair_thickness),
                )
            )
        self.eye_cut_r = torch.tensor(cut_r)
        self.n_mass = len(prims)
        cen = torch.cat([self.centres, torch.tensor([e[0] for e in extras])])
        rad = torch.cat([self.radii, torch.tensor([e[1] for e in extras])])
        rot = torch.cat([self.rots, torch.eye(3).expand(len(extras), 3, 3)])
        self.base_set = EllipsoidSet(cen, rad, rot)  # [K + extras] in the base frame
        self.tongue_set = EllipsoidSet(self.tongue_c[None], self.tongue_r[None], torch.eye(3)[None])  # template frame
        self.hair_colour = self._hair_colour()
        self.skin_colour = self._skin_colour()
        # displacement bumps (centre, 1 / radii, displacement): smile corners and cheeks, brows
        bumps = []
        for sg in (1.0, -1.0):
            if ex.smile > 0:
                bumps.append(
                    ((sg * 0.047 * lw, _Y_MOUTH, 0.255), (0.04, 0.035, 0.05), (sg * 0.010, 0.013, -0.008), ex.smile)
                )
                bumps.append(((sg * 0.09, -0.015, 0.2), (0.06, 0.05, 0.07), (0.0, 0.007, 0.004), ex.smile))
            if ex.brow_raise > 0:
                bumps.append(((sg * 0.07, 0.09, 0.23), (0.065, 0.05, 0.08), (0.0, 0.016, 0.0), ex.brow_raise))
        self.bumps = (
            None
            if not bumps
            else (
                torch.tensor([b[0] for b in bumps]),
                1.0 / torch.tensor([b[1] for b in bumps]),
                torch.tensor([b[2] for b in bumps]) * torch.tensor([b[3] for b in bumps])[:, None],
            )
        )
        self.pucker_c, self.pucker_r = torch.tensor([0.0, _Y_MOUTH, 0.27]), torch.tensor([0.07, 0.045, 0.06])
        jr = REGIONS["jaw_open"]
        self.jaw_region = (torch.tensor(jr[0]), torch.tensor(jr[1]))

    def _skin_colour(self) -> torch.Tensor:
        idt = self.identity
        light, mid, dark = (
            torch.tensor([0.95, 0.78, 0.68]),
            torch.tensor([0.78, 0.56, 0.42]),
            torch.tensor([0.36, 0.22, 0.15]),
        )
        t = idt.skin_tone
        base = _lerp(light, mid, t / 0.5) if t < 0.5 else _lerp(mid, dark, (t - 0.5) / 0.5)
        return (base + idt.skin_warmth * torch.tensor([0.01, 0.025, -0.035]) * (1.2 - t)).clamp(0, 1)

    def _hair_colour(self) -> torch.Tensor:
        idt = self.identity
        black, brown, blond = (
            torch.tensor([0.05, 0.04, 0.035]),
            torch.tensor([0.3, 0.18, 0.1]),
            torch.tensor([0.78, 0.63, 0.38]),
        )
        t = idt.hair_tone
        c = _lerp(black, brown, t / 0.55) if t < 0.55 else _lerp(brown, blond, (t - 0.55) / 0.45)
        c = _lerp(c, torch.tensor([0.5, 0.17, 0.07]), 0.6 * max(0.0, idt.hair_red - 0.6) / 0.4)
        return _lerp(c, torch.tensor([0.7, 0.7, 0.7]), float(smoothstep(0.8, 1.0, torch.tensor(idt.hair_grey))))

    # ------------------------------------------------------------------ warps
    def _warp(self, p: torch.Tensor) -> torch.Tensor:
        """Template frame -> base frame `[N, 3]` (the inverse of the expression's motion)."""
        ex = self.expression
        x, y, z = p.unbind(-1)
        if self.jaw_angle > 0:
            q = ((p - self.jaw_region[0]) / self.jaw_region[1]).norm(dim=-1)
            w = smoothstep(1.0, 0.75, q) * smoothstep(_Y_MOUTH + 0.008, _Y_MOUTH - 0.012, y)
            a = w * self.jaw_angle
            ca, sa = torch.cos(a), torch.sin(a)
            yr, zr = y - _HINGE[1], z - _HINGE[2]
            y, z = _HINGE[1] + yr * ca + zr * sa, _HINGE[2] - yr * sa + zr * ca
            p = torch.stack([x, y, z], -1)
        if self.bumps is not None:
            c, inv_r, v = self.bumps
            q = (p[:, None, :] - c) * inv_r  # [N, M, 3]
            w = (1.0 - (q * q).sum(-1)).clamp_min(0.0) ** 2  # [N, M]
            p = p - w @ v
        if ex.pucker > 0:
            w = bump(p, self.pucker_c, self.pucker_r) * ex.pucker
            p = torch.stack([p[:, 0] * (1 + 0.35 * w), p[:, 1], p[:, 2] - 0.02 * w], -1)
        return p

    def _unwarp(self, b: torch.Tensor, iters: int = 30) -> torch.Tensor:
        """Base frame -> template frame `[N, 3]` by fixed-point iteration on `_warp`."""
        p = b.clone()
        for _ in range(iters):
            p = p + (b - self._warp(p))
        return p

    # ------------------------------------------------------------------ geometry
    def _parts(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """All part distances at points `[N, 3]` (head frame), in head-frame units."""
        idt, k = self.identity, self.n_mass
        pt = (points - self.offset) / self.scale  # [N, 3] template frame
        pb = self._warp(pt) if self.warped else pt  # [N, 3] base frame
        fb = quadratic_features(pb)  # [N, 10]
        d = self.base_set.from_features(fb)  # [N, K + extras]
        ft = quadratic_features(pt) if self.warped else fb
        tongue_d = self.tongue_set.from_features(ft)[:, 0]  # [N]
        mass = smin_exp(d[:, :k], _SMIN_K)  # [N]
        eye_cut = torch.minimum(d[:, k], d[:, k + 1])
        eyeball = torch.minimum(d[:, k + 2], d[:, k + 3])
        cavity = flat_ellipsoid(pt, self.cavity_c, self.cavity_r)  # the mouth slit / opening
        skin = smax(smax(mass, -eye_cut, 0.003), -cavity, 0.004)
        tongue = tongue_d if self.has_tongue else torch.ones_like(mass)
        # hair: a shell over cranium + forehead (plus a curtain for long hair) above the hairline
        shell = smin(d[:, 0], d[:, 1], 0.03) - idt.hair_thickness
        if self.long_hair:
            shell = torch.minimum(shell, d[:, k + 4])
        cos_phi = pb[:, 2] * torch.rsqrt(pb[:, 0] ** 2 + pb[:, 2] ** 2 + 1e-12)
        hairline = (
            idt.hair_side
            + (idt.hair_front - idt.hair_side) * smoothstep(0.35, 0.8, cos_phi)
            + (idt.hair_back - idt.hair_side) * smoothstep(0.3, 0.9, -cos_phi)
        )
        hair = torch.maximum(shell, hairline - pb[:, 1])
        s = self.dist_scale
        return {
            "skin": skin * s,
            "mass": mass * s,
            "cavity": cavity * s,
            "eyeball": eyeball * s,
            "eye_cut": eye_cut * s,
            "tongue": tongue * s,
            "hair": hair * s,
            "pt": pt,
            "pb": pb,
        }

    def _combine(self, parts: dict[str, torch.Tensor], points: torch.Tensor) -> torch.Tensor:
        d = torch.minimum(torch.minimum(parts["skin"], parts["eyeball"]), torch.minimum(parts["hair"], parts["tongue"]))
        return torch.maximum(d, NECK_CUT_Y - points[:, 1])

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance `[N]` (negative inside) of head + neck at points `[N, 3]`."""
        return self._combine(self._parts(points), points)

    def normals(self, points: torch.Tensor, h: float = 5e-4) -> torch.Tensor:
        """Unit outward normals `[N, 3]` (SDF gradient by tetrahedral differences)."""
        n = points.shape[0]
        offs = (_TETRA * h)[:, None, :]  # [4, 1, 3]
        vals = self.sdf((points[None] + offs).reshape(-1, 3)).reshape(4, n)  # [4, N]
        g = (vals[:, :, None] * _TETRA[:, None, :]).sum(0)  # [N, 3]
        return torch.nn.functional.normalize(g, dim=-1)

    # ------------------------------------------------------------------ colour
    def labels(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        """Material label `[N]` (LABEL_*) of the part nearest to each point."""
        stack = torch.stack([parts["skin"], parts["hair"], parts["eyeball"], parts["tongue"]], -1)  # [N, 4]
        lab = torch.tensor([LABEL_SKIN, LABEL_HAIR, LABEL_EYE, LABEL_TONGUE])[stack.argmin(-1)]
        in_mouth = (lab == LABEL_SKIN) & (-parts["cavity"] >= parts["mass"] - 1e-4)
        return torch.where(in_mouth, torch.full_like(lab, LABEL_MOUTH), lab)

    def albedo(self, points: torch.Tensor, parts: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Unlit surface colour `[N, 3]` in [0, 1] at points `[N, 3]`."""
        parts = parts if parts is not None else self._parts(points)
        lab = self.labels(parts)
        out = self._skin_albedo(parts)
        out = torch.where((lab == LABEL_HAIR)[:, None], self._hair_albedo(parts["pb"]), out)
        out = torch.where((lab == LABEL_EYE)[:, None], self._eye_albedo(parts["pb"]), out)
        out = torch.where((lab == LABEL_MOUTH)[:, None], self._mouth_albedo(parts["pt"]), out)
        out = torch.where((lab == LABEL_TONGUE)[:, None], torch.tensor([0.78, 0.36, 0.4]), out)
        return out.clamp(0.0, 1.0)

    def _skin_albedo(self, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        idt, pb = self.identity, parts["pb"]
        skin = self.skin_colour.expand(pb.shape[0], 3)
        x, y, z = pb.unbind(-1)
        front = smoothstep(0.1, 0.16, z)
        # eye sockets slightly darker, cheeks slightly redder
        for sg in (1.0, -1.0):
            w = bump(pb, torch.tensor([sg * self.eye_x, self.eye_y, 0.25]), torch.tensor([0.055, 0.04, 0.06]))
            skin = skin * (1.0 - 0.18 * w[:, None])
            w = bump(pb, torch.tensor([sg * 0.095, -0.035, 0.22]), torch.tensor([0.05, 0.04, 0.06]))
            skin = _lerp(skin, skin * torch.tensor([1.0, 0.8, 0.8]), 0.5 * w[:, None])
        # lips
        lip_col = _lerp(
            self.skin_colour * torch.tensor([0.85, 0.6, 0.6]),
            torch.tensor([0.62, 0.16, 0.2]),
            0.35 + 0.45 * idt.lip_tint,
        )
        w_lip = torch.zeros_like(x)
        for c, r in self.lips:
            w_lip = torch.maximum(w_lip, bump(pb, torch.tensor(c), torch.tensor(r) * torch.tensor([1.1, 1.3, 1.8])))
        skin = _lerp(skin, lip_col.expand_as(skin), smoothstep(0.0, 0.25, w_lip)[:, None])
        # eyebrows
        brow_col = self.hair_colour * 0.55 + 0.02
        for sg in (1.0, -1.0):
            xr = (sg * x - self.eye_x) / 0.046
            yc = self.eye_y + 0.045 + 0.012 * idt.brow_arch * (1 - xr * xr) - 0.006 * xr
            th = 0.0065 * idt.brow_thickness * (1 - 0.35 * xr)
            w = smoothstep(1.0, 0.6, (y - yc).abs() / th) * smoothstep(1.15, 0.9, xr.abs()) * front
            skin = _lerp(skin, brow_col.expand_as(skin), 0.9 * w[:, None])
        # eyelashes along the upper lid edge
        w = smoothstep(0.0045, 0.0015, parts["eye_cut"].abs() / self.dist_scale) * smoothstep(
            -0.004, 0.0, y - self.eye_y
        )
        skin = _lerp(skin, torch.tensor([0.08, 0.06, 0.05]).expand_as(skin), 0.9 * w[:, None])
        # nostrils
        tip = torch.tensor(self.nose_tip)
        for sg in (1.0, -1.0):
            w = bump(
                pb,
                tip + torch.tensor([sg * 0.013 * idt.nose_width, -0.022, -0.012]),
                torch.tensor([0.01, 0.008, 0.014]),
            )
            skin = _lerp(skin, skin * 0.3, smoothstep(0.0, 0.3, w)[:, None])
        return skin

    def _hair_albedo(self, pb: torch.Tensor) -> torch.Tensor:
        phi = torch.atan2(pb[:, 0], pb[:, 2])
        streak = 1.0 + 0.12 * torch.sin(70.0 * phi + 25.0 * pb[:, 1]) * torch.sin(23.0 * phi - 40.0 * pb[:, 1])
        return self.hair_colour[None] * streak[:, None]

    def _eye_albedo(self, pb: torch.Tensor) -> torch.Tensor:
        side = torch.where(pb[:, 0:1] >= 0, 1.0, -1.0)  # [N, 1]
        c = torch.cat([side * self.eye_x, torch.full_like(side, self.eye_y), torch.full_like(side, self.eye_z)], -1)
        cos_t = torch.nn.functional.normalize(pb - c, dim=-1)[:, 2]
        t = self.identity.iris_tone
        stops = torch.tensor([[0.28, 0.15, 0.06], [0.42, 0.32, 0.13], [0.3, 0.45, 0.25], [0.3, 0.47, 0.72]])
        pos = t * 3.0
        i = min(int(pos), 2)
        iris = _lerp(stops[i], stops[i + 1], pos - i)
        sclera = torch.tensor([0.93, 0.9, 0.87])
        col = _lerp(sclera, iris * 0.6, smoothstep(0.86, 0.875, cos_t)[:, None])
        col = _lerp(col, iris, smoothstep(0.9, 0.92, cos_t)[:, None])
        return _lerp(col, torch.tensor([0.02, 0.02, 0.02]), smoothstep(0.975, 0.98, cos_t)[:, None])

    def _mouth_albedo(self, pt: torch.Tensor) -> torch.Tensor:
        top = self.cavity_c[1] + self.cavity_r[1]
        bottom = self.cavity_c[1] - self.cavity_r[1]
        teeth = smoothstep(top - 0.016, top - 0.012, pt[:, 1]) + smoothstep(bottom + 0.012, bottom + 0.008, pt[:, 1])
        teeth = teeth.clamp(0, 1) * smoothstep(0.04, 0.03, pt[:, 0].abs()) * float(self.jaw_eff > 0.05)
        return _lerp(torch.tensor([0.3, 0.06, 0.07]), torch.tensor([0.9, 0.88, 0.8]), teeth[:, None])

    def colour(self, points: torch.Tensor) -> torch.Tensor:
        """Lit colour `[N, 3]` (albedo shaded by the head's lighting with the SDF normal)."""
        return self.lighting.shade(self.albedo(points), self.normals(points))

    # ------------------------------------------------------------------ field + keypoints
    @torch.no_grad()
    def __call__(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Field interface: points `[B, N, 3]` -> density `[B, N, 1]`, rgb `[B, N, 3]`."""
        assert points.dim() == 3 and points.shape[-1] == 3, f"points must be [B, N, 3], got {tuple(points.shape)}"
        flat = points.reshape(-1, 3).float().cpu()
        dens, rgb = [], []
        for start in range(0, flat.shape[0], _CHUNK):
            p = flat[start : start + _CHUNK]
            dens.append(self.density_from_sdf(self.sdf(p)))
            rgb.append(self.colour(p))
        b, n = points.shape[:2]
        dev = points.device
        return torch.cat(dens).reshape(b, n, 1).to(dev), torch.cat(rgb).reshape(b, n, 3).to(dev)

    @staticmethod
    def density_from_sdf(sdf: torch.Tensor) -> torch.Tensor:
        """Density `[...]` from signed distance `[...]`; equals SURFACE_DENSITY exactly where sdf = 0."""
        return 2.0 * SURFACE_DENSITY * torch.sigmoid(-sdf / SHELL)

    @torch.no_grad()
    def keypoints(self) -> torch.Tensor:
        """3D keypoints `[len(KEYPOINT_NAMES), 3]` on the surface, in the head frame (follow the expression)."""
        ex, ey = self.eye_x, self.eye_y
        ez = self.eye_z + self.eye_r
        hw = 0.032 * self.identity.eye_size
        mw = 0.047 * self.identity.lip_width
        tip, tip_r = self.nose_tip, self.nose_tip_r
        chin_c, chin_r = self.chin
        base = torch.tensor(
            [
                [ex + hw, ey, ez - 0.02],
                [ex - hw, ey, ez - 0.012],
                [-ex + hw, ey, ez - 0.012],
                [-ex - hw, ey, ez - 0.02],
                [mw, _Y_MOUTH, 0.25],
                [-mw, _Y_MOUTH, 0.25],
                [tip[0], tip[1], tip[2] + tip_r[2]],
                [chin_c[0], chin_c[1] - chin_r[1], chin_c[2] + 0.3 * chin_r[2]],
            ]
        )
        p = self._unwarp(base) * self.scale + self.offset
        for _ in range(4):
            p = p - self.sdf(p)[:, None] * self.normals(p)
        return p
