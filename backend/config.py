"""Dataclass configs. Each field carries its docstring; configs are saved beside every checkpoint.

This module imports nothing from the rest of the package, so every layer may use it.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    coarse_factor: int = 4
    """Coarse-to-fine: the coarse grid has resolution / coarse_factor cells; 1 evaluates densely."""
    chunk_points: int = 262144
    """Points evaluated at once (bounds memory)."""
    keep_largest_component: bool = True
    """Drop floaters: keep only the connected component with the most faces."""
    texture_size: int = 512
    """Side of the baked square texture in pixels (0 bakes no texture)."""
    uv_mode: str = "head"
    """`head`: a head-centred spherical projection that is the same for every frame; `xatlas`: an atlas."""


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
        kwargs[key] = value
    return cls(**kwargs)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write a dataclass config as indented JSON."""
    Path(path).write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")


__all__ = ["RenderConfig", "MeshConfig", "config_to_dict", "config_from_dict", "save_config", "field"]
