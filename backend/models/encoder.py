"""The single-image lifter E: aligned portrait crop -> canonical triplane.

`TriplaneEncoder` (LP3D-style, the global branch): conv stem (patchify to tokens) -> vision
transformer (global reasoning: which way the head faces, what the unseen side looks like) -> conv
decoder that upsamples the tokens to the plane resolution, fused with a shallow high-resolution conv
branch on the image (keeps detail the tokens lose) -> `[B, 3, C, H, W]` planes (xy, xz, yz).

`PixelAlignedEncoder` (config `kind="pixel"`): the same global branch, plus image features gathered
where each texel's line through the box projects with the crop's solved camera
(`models.pixel_lifting`), conditioned on MediaPipe's face mesh rendered into the crop
(`face.geometry`); per-plane convs add what is lifted to the global planes. The last of them starts
at zero, so an untrained lifting leaves the global branch's planes as they are (and a global-only
checkpoint can start it: `load_global_branch`). With `fine_lift_size` (preset `pyramid`) a second,
finer level of lines is lifted from the same projected feature maps, and the fuse convs read both
levels side by side (a single-level checkpoint starts it: `load_single_level`).
"""

import torch
from torch import nn
from torch.nn import functional as F

from backend.config import EncoderConfig
from backend.face.geometry import GEOMETRY_CHANNELS
from backend.models.pixel_lifting import POINT_EXTRAS, gather_along_lines, line_points, project_lines
from backend.models.planewise import PlaneConv, fold, plane_norm, unfold


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.GELU())


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + MLP on tokens `[B, N, D]`."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class TriplaneEncoder(nn.Module):
    """images `[B, 3, S, S]` in 0..1 (S = cfg.image_size) -> triplanes `[B, 3, C, P, P]`.

    `extra_channels` more input channels (e.g. the face-mesh geometry) may follow the image's three;
    their stem weights start at zero."""

    def __init__(self, cfg: EncoderConfig, extra_channels: int = 0):
        super().__init__()
        self.cfg = cfg
        s, p = cfg.image_size, cfg.plane_size
        if s % cfg.patch_size:
            raise ValueError(f"image_size {s} must be a multiple of patch_size {cfg.patch_size}")
        grid = s // cfg.patch_size
        if p % grid or (p // grid) & (p // grid - 1):
            raise ValueError(f"plane_size {p} must be a power-of-two multiple of the token grid {grid}")
        stem, c = [], 3 + extra_channels
        widths = [min(cfg.dim, cfg.stem_width * 2**i) for i in range(cfg.patch_size.bit_length() - 1)]
        for w in widths:  # stride-2 convs down to the token grid
            stem.append(_conv(c, w, 2))
            c = w
        self.stem = nn.Sequential(*stem, nn.Conv2d(c, cfg.dim, 1))
        self.pos = nn.Parameter(torch.zeros(1, grid * grid, cfg.dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[TransformerBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.dim)
        ups, c = [], cfg.dim
        for _ in range((p // grid).bit_length() - 1):  # x2 upsampling stages to the plane size
            ups.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), _conv(c, cfg.decoder_width)
                )
            )
            c = cfg.decoder_width
        self.up = nn.Sequential(*ups)
        self.high = nn.Sequential(
            _conv(3 + extra_channels, cfg.high_width, 2 if s > p else 1), _conv(cfg.high_width, cfg.high_width)
        )
        with torch.no_grad():
            for first in (self.stem[0][0], self.high[0][0]):
                first.weight[:, 3:] = 0.0
        self.head = nn.Sequential(
            _conv(c + cfg.high_width, cfg.decoder_width), nn.Conv2d(cfg.decoder_width, 3 * cfg.plane_channels, 3, 1, 1)
        )

    def forward(self, images: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """`images [B, 3, S, S]` (0..1), `extra [B, E, S, S]` -> planes `[B, 3, C, P, P]`."""
        cfg = self.cfg
        B = images.shape[0]
        assert images.shape[1:] == (
            3,
            cfg.image_size,
            cfg.image_size,
        ), f"encoder expects [B, 3, {cfg.image_size}, {cfg.image_size}], got {tuple(images.shape)}"
        images = images * 2.0 - 1.0
        if extra is not None:
            images = torch.cat([images, extra], dim=1)
        x = self.stem(images)  # [B, D, g, g]
        g = x.shape[-1]
        tokens = self.norm(self.blocks(x.flatten(2).transpose(1, 2) + self.pos))  # [B, g*g, D]
        x = self.up(tokens.transpose(1, 2).reshape(B, cfg.dim, g, g))  # [B, Cd, P, P]
        hi = self.high(images)
        hi = (
            F.interpolate(hi, size=x.shape[-2:], mode="bilinear", align_corners=False)
            if hi.shape[-1] != x.shape[-1]
            else hi
        )
        planes = self.head(torch.cat([x, hi], dim=1))  # [B, 3*C, P, P]
        return planes.reshape(B, 3, cfg.plane_channels, cfg.plane_size, cfg.plane_size)


class PixelAlignedEncoder(nn.Module):
    """Crop, face-mesh geometry and camera -> triplanes `[B, 3, C, P, P]` (see the module doc)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.global_branch = TriplaneEncoder(cfg, extra_channels=GEOMETRY_CHANNELS)
        layers, c = [], 3 + GEOMETRY_CHANNELS
        for w in cfg.feature_widths:  # each level halves the resolution
            layers.append(nn.Sequential(_conv(c, w, 2), _conv(w, w)))
            c = w
        self.features = nn.ModuleList(layers)
        cin = 3 + sum(cfg.feature_widths) + POINT_EXTRAS  # the crop's own RGB is read too
        h, cl = cfg.lift_hidden, cfg.lift_channels
        # One per-point network per plane (weights [3, in, out]): the planes' lines differ.
        self.w1 = nn.Parameter(torch.randn(3, cin, h) / cin**0.5)
        self.b1 = nn.Parameter(torch.zeros(3, h))
        self.w2 = nn.Parameter(torch.randn(3, h, 1 + cl) / h**0.5)
        self.b2 = nn.Parameter(torch.zeros(3, 1 + cl))
        C, fw = cfg.plane_channels, cfg.fuse_width
        levels = 2 if cfg.fine_lift_size else 1
        self.fuse = nn.Sequential(
            PlaneConv(C + 2 * cl * levels, fw),
            plane_norm(fw),
            nn.GELU(),
            PlaneConv(fw, fw),
            plane_norm(fw),
            nn.GELU(),
            PlaneConv(fw, C, zero=True),
        )
        self.register_buffer(
            "points", line_points(cfg.lift_size, cfg.lift_depth_samples), persistent=False
        )  # [3, L, L, D, 3]
        if cfg.fine_lift_size:
            self.register_buffer(
                "fine_points", line_points(cfg.fine_lift_size, cfg.fine_lift_depth_samples), persistent=False
            )  # [3, Lf, Lf, Df, 3]

    def _levels(self) -> list[torch.Tensor]:
        """The line points of each lifted level, coarse first: `[3, L, L, D, 3]` each."""
        return [self.points, self.fine_points] if self.cfg.fine_lift_size else [self.points]

    def _first_layer(self) -> list[torch.Tensor]:
        """`w1 [3, Cin, h]` split by input: one `[3, C_i, h]` per feature map, then the point extras."""
        sizes = [3, *self.cfg.feature_widths, POINT_EXTRAS]
        return list(torch.split(self.w1, sizes, dim=1))

    def lift(
        self, images: torch.Tensor, geometry: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor
    ) -> torch.Tensor:
        """The pixel-aligned branch alone: `[B, 3, 2 * lift_channels * levels, P, P]` (lifted at `lift_size`,
        and at `fine_lift_size` when set, each upsampled to the plane size).

        Fast path of `lift_reference`: the per-point network's first layer is linear, and so is bilinear
        sampling, so each feature map is first projected to the hidden width (one 1x1 conv per map, all
        three planes at once) and only then sampled at the points: no `[B, 3, L, L, D, Cin]` tensor."""
        B, h = images.shape[0], self.cfg.lift_hidden
        maps = self._feature_maps(images, geometry)
        weights = self._first_layer()
        projected = [  # [B * 3, h, h_i, w_i] per map, shared by the levels
            torch.einsum("bcyx,kco->bkoyx", m, w).reshape(B * 3, h, *m.shape[-2:])
            for m, w in zip(maps, weights[:-1], strict=True)
        ]
        lifted = []
        for points in self._levels():
            grid, extras = project_lines(geometry, cam2world, intrinsics, points)  # [B, 3, N, 2], [B, 3, N, 8]
            grid = grid.reshape(B * 3, 1, -1, 2)
            hidden = torch.einsum("bknc,kco->bkno", extras, weights[-1])  # [B, 3, N, h]
            for proj in projected:
                sampled = F.grid_sample(proj, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
                hidden = hidden + sampled[:, :, 0].reshape(B, 3, h, -1).transpose(2, 3)
            hidden = hidden.reshape(B, 3, *points.shape[1:4], h) + self.b1[None, :, None, None, None]
            lifted.append(self._pool_lines(hidden))
        return torch.cat(lifted, dim=2)

    def lift_reference(
        self, images: torch.Tensor, geometry: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor
    ) -> torch.Tensor:
        """`lift` written plainly: gather every point's inputs (`gather_along_lines`), then the per-point
        network. Slow and memory-hungry; the reference the fast path is tested against."""
        maps = self._feature_maps(images, geometry)
        lifted = []
        for points in self._levels():
            per_point = gather_along_lines(maps, geometry, cam2world, intrinsics, points)  # [B, 3, L, L, D, Cin]
            hidden = torch.einsum("bkhwdc,kco->bkhwdo", per_point, self.w1) + self.b1[None, :, None, None, None]
            lifted.append(self._pool_lines(hidden))
        return torch.cat(lifted, dim=2)

    def _feature_maps(self, images: torch.Tensor, geometry: torch.Tensor) -> list[torch.Tensor]:
        """The crop itself and its feature levels: `[B, 3, S, S]`, `[B, C_1, S/2, S/2]`, ..."""
        x = torch.cat([images * 2.0 - 1.0, geometry], dim=1)
        maps = [images]
        for level in self.features:
            x = level(x)
            maps.append(x)
        return maps

    def _pool_lines(self, hidden: torch.Tensor) -> torch.Tensor:
        """First-layer activations `[B, 3, L, L, D, h]` (any level's L, D) -> lifted planes `[B, 3, 2 cl, P, P]`."""
        B, L, P = hidden.shape[0], hidden.shape[2], self.cfg.plane_size
        out = torch.einsum("bkhwdc,kco->bkhwdo", F.gelu(hidden), self.w2) + self.b2[None, :, None, None, None]
        weight = torch.softmax(out[..., :1], dim=4)  # [B, 3, L, L, D, 1]: which points of the line matter
        feats = out[..., 1:]
        lifted = torch.cat([(weight * feats).sum(4), feats.mean(4)], dim=-1)  # [B, 3, L, L, 2 cl]
        lifted = lifted.permute(0, 1, 4, 2, 3).reshape(B * 3, -1, L, L)
        if L != P:
            lifted = F.interpolate(lifted, size=(P, P), mode="bilinear", align_corners=False)
        return lifted.reshape(B, 3, -1, P, P)

    def forward(
        self, images: torch.Tensor, geometry: torch.Tensor, cam2world: torch.Tensor, intrinsics: torch.Tensor
    ) -> torch.Tensor:
        """`images [B, 3, S, S]` 0..1, `geometry [B, 8, S, S]`, `cam2world [B, 4, 4]`, `intrinsics [B, 3, 3]`
        (normalized) -> planes `[B, 3, C, P, P]`."""
        S = self.cfg.image_size
        assert geometry.shape[1:] == (
            GEOMETRY_CHANNELS,
            S,
            S,
        ), f"geometry must be [B, {GEOMETRY_CHANNELS}, {S}, {S}], got {tuple(geometry.shape)}"
        planes = self.global_branch(images, geometry)  # [B, 3, C, P, P]
        lifted = self.lift(images, geometry, cam2world, intrinsics)
        return planes + unfold(self.fuse(fold(torch.cat([planes, lifted], dim=2))))

    def load_global_branch(self, state: dict) -> None:
        """Start the global branch from a global-only encoder's `state_dict` (its stem gains the
        geometry channels, with zero weights)."""
        _load_padded(self.global_branch, state)

    def load_single_level(self, state: dict) -> None:
        """Start a two-level (`fine_lift_size`) encoder from a single-level one's `state_dict`: every
        weight is shared, and the first fuse conv's inputs from the finer level start at zero, so the
        encoder starts as the single-level one."""
        _load_padded(self, state)


def _load_padded(module: nn.Module, state: dict) -> None:
    """Load `state` into `module`, where a weight of `module` with more input channels (dim 1) than in
    `state` gets the given ones first and zeros for the rest."""
    own = module.state_dict()
    for key, value in state.items():
        if own[key].shape != value.shape:
            padded = torch.zeros_like(own[key])
            padded[:, : value.shape[1]] = value
            value = padded
        own[key] = value
    module.load_state_dict(own)
