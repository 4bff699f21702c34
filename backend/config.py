"""Dataclass configs. Each field carries its docstring; a checkpoint carries the configs it was trained with.

This module imports nothing from the rest of the package (only the job options it shares with the
add-on), so every layer may use it.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from headfuse_wire.options import MESH_RESOLUTION_STEP


@dataclass
class RenderConfig:
    """Volume rendering of a field inside the box."""

    n_coarse: int = 48
    """Stratified samples per ray."""
    n_fine: int = 48
    """Importance samples per ray, drawn from the coarse weights (0 turns importance sampling off)."""
    box_half: float = 0.5
    """Half the side of the box the field lives in (box_warp / 2)."""
    perturb: bool = False
    """Jitter the samples (training); off gives deterministic renders."""
    background: float = 0.0
    """Grey level composited behind the field (0 black, 1 white)."""
    chunk_rays: int = 8192
    """Rays evaluated at once by the fast path (bounds memory)."""


@dataclass
class MeshConfig:
    """Mesh extraction and texturing."""

    resolution: int = 128
    """Grid cells per side of the box for marching cubes (the grid has resolution + 1 points)."""
    iso_level: float | None = None
    """Density level of the surface; None uses `render.field.SURFACE_DENSITY`."""
    coarse_factor: int = MESH_RESOLUTION_STEP
    """Coarse-to-fine: the coarse grid has resolution / coarse_factor cells; 1 evaluates densely."""
    chunk_points: int = 262144
    """Points evaluated at once (bounds memory)."""
    keep_largest_component: bool = True
    """Drop floaters: keep only the connected component with the most faces."""
    texture_size: int = 512
    """Side of the baked square texture in pixels (0 bakes no texture)."""
    uv_mode: str = "head"
    """`head`: a head-centred spherical projection that is the same for every frame; `xatlas`: an atlas."""


@dataclass
class EncoderConfig:
    """The single-image lifter (encoder E) and the decoder MLP trained with it."""

    image_size: int = 128
    """Side of the aligned input crop in pixels."""
    patch_size: int = 8
    """Pixels per token side (the conv stem downsamples by this)."""
    stem_width: int = 32
    """Channels of the first stem conv (doubling per stride-2 stage, capped at `dim`)."""
    dim: int = 128
    """Transformer width."""
    depth: int = 4
    """Transformer blocks."""
    heads: int = 4
    """Attention heads."""
    mlp_ratio: float = 2.0
    """Transformer MLP width / dim."""
    decoder_width: int = 64
    """Channels of the conv decoder that upsamples tokens to planes."""
    high_width: int = 16
    """Channels of the shallow high-resolution conv branch on the image."""
    plane_size: int = 64
    """Triplane resolution H = W."""
    plane_channels: int = 24
    """Triplane channels C."""
    decoder_hidden: int = 64
    """Hidden width of the decoder MLP."""
    decoder_features: int = 16
    """Features the decoder outputs besides density (the first three are RGB)."""
    kind: str = "global"
    """`global`: the conv + ViT encoder alone (the first lifter); `pixel`: that encoder as the global
    branch beside pixel-aligned lifting of image features, conditioned on the rendered face mesh."""
    lift_size: int = 32
    """`pixel`: resolution of the lifted planes (upsampled to `plane_size` before they are added)."""
    lift_depth_samples: int = 8
    """`pixel`: samples per texel line through the box."""
    feature_widths: tuple[int, ...] = (32, 48)
    """`pixel`: channels of the image feature maps read at the projections (at 1/2, 1/4, ... of the crop)."""
    lift_hidden: int = 32
    """`pixel`: hidden width of the per-point network of the lifting."""
    lift_channels: int = 32
    """`pixel`: features per point; a texel gets their visibility-weighted sum and their mean (2x)."""
    fuse_width: int = 32
    """`pixel`: channels of the per-plane convs that add the lifted features to the global planes."""
    fine_lift_size: int = 0
    """`pixel`: resolution of a second, finer lifted level (a pyramid of lifted planes, Tri2-plane's idea:
    the coarse level above plus this one, each upsampled to `plane_size` and given to the fuse convs side
    by side); 0 for the single level. Both levels share the per-point network."""
    fine_lift_depth_samples: int = 4
    """`pixel` with `fine_lift_size`: samples per texel line of the finer level."""


ENCODER_PRESETS = ("tiny", "pixel", "pyramid", "paper")
"""The lifter presets `encoder_preset` knows."""


def encoder_preset(name: str) -> EncoderConfig:
    """`tiny` (the first, global-only lifter, trained on a CPU, shipped), `pixel` (the tiny sizes with
    pixel-aligned, landmark-conditioned lifting), `pyramid` (`pixel` plus a finer lifted level at the plane
    resolution: the multi-scale ablation) or `paper` (LP3D scale: 512 px in, 3x32x256x256 planes)."""
    if name == "tiny":
        return EncoderConfig()
    if name == "pixel":
        return EncoderConfig(kind="pixel")
    if name == "pyramid":
        return EncoderConfig(kind="pixel", fine_lift_size=64, fine_lift_depth_samples=4)
    if name == "paper":
        return EncoderConfig(
            image_size=512,
            patch_size=16,
            stem_width=64,
            dim=768,
            depth=12,
            heads=12,
            mlp_ratio=4.0,
            decoder_width=128,
            high_width=32,
            plane_size=256,
            plane_channels=32,
            decoder_hidden=64,
            decoder_features=32,
        )
    raise ValueError(f"unknown config {name!r}: expected one of {', '.join(ENCODER_PRESETS)}")


@dataclass
class FusionConfig:
    """The undistorter U, the visibility head and the fuser F (stage 2). Every network exists once
    per plane (xy, xz, yz): three independent networks of the same shape, never shared."""

    plane_channels: int = 24
    """Triplane channels C (must match the lifter's)."""
    plane_size: int = 64
    """Triplane resolution P (must match the lifter's)."""
    flow_levels: int = 3
    """Undistorter pyramid levels, SPyNet-style, each at twice the resolution of the one before."""
    flow_finest: int = 32
    """Resolution of the finest flow level (the flow is upsampled to P for the warp)."""
    flow_width: int = 24
    """Channels of each level's flow network."""
    flow_kernel: int = 3
    """Kernel size of the flow networks."""
    max_flow: float = 0.25
    """Largest flow per level in plane units (tanh-bounded; the plane spans 2)."""
    visibility_width: int = 16
    """Channels of the visibility head."""
    visibility_size: int = 32
    """Resolution of the visibility triplanes it is supervised at."""
    fuser_width: int = 32
    """Channels of the fuser's full-resolution features."""
    fuser_blocks: int = 2
    """Residual blocks at half resolution in the fuser."""
    state_channels: int = 24
    """Channels of the fuser's recurrent state (half resolution, per plane)."""


def fusion_preset(name: str) -> FusionConfig:
    """The fusion networks for a lifter preset: `tiny` sizes for the `tiny`, `pixel` and `pyramid` lifters
    (3x24x64x64 planes; trained on a CPU, shipped) or `paper` (3x32x256x256 planes)."""
    if name in ("tiny", "pixel", "pyramid"):
        return FusionConfig()
    if name == "paper":
        return FusionConfig(
            plane_channels=32,
            plane_size=256,
            flow_levels=5,
            flow_finest=256,
            flow_width=64,
            flow_kernel=7,
            visibility_width=32,
            visibility_size=64,
            fuser_width=96,
            fuser_blocks=6,
            state_channels=64,
        )
    raise ValueError(f"unknown config {name!r}: expected one of {', '.join(ENCODER_PRESETS)}")


def config_to_dict(cfg: Any) -> dict:
    """A dataclass config (nested allowed) as a JSON-friendly dict."""
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict):
    """Build `cls` from a dict; unknown keys are an error that names them (a typo must not pass)."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
    kwargs = {}
    for key, value in data.items():
        ftype = names[key].type
        if dataclasses.is_dataclass(ftype) and isinstance(value, dict):
            value = config_from_dict(ftype, value)
        elif isinstance(value, list):
            value = tuple(value)  # JSON has no tuples
        kwargs[key] = value
    return cls(**kwargs)
