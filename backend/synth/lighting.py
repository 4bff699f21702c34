"""Lighting: one directional light plus ambient, with colour temperature and intensity.

Shading is Lambertian and view-independent, so a head's colour at a point is one number per
channel for every camera (what the field stores as its RGB).
"""

import dataclasses
import math
from dataclasses import dataclass

import torch


def temperature_rgb(kelvin: float) -> torch.Tensor:
    """Approximate colour `[3]` of a black body at `kelvin`, scaled so 6500 K is white."""

    def raw(k: float) -> tuple[float, float, float]:
        t = k / 100.0
        r = 255.0 if t <= 66 else 329.7 * (t - 60) ** -0.1332
        g = 99.47 * math.log(t) - 161.1 if t <= 66 else 288.1 * (t - 60) ** -0.0755
        b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5 * math.log(t - 10) - 305.0)
        return tuple(min(max(c, 1.0), 255.0) for c in (r, g, b))

    rgb = torch.tensor(raw(kelvin)) / torch.tensor(raw(6500.0))
    return rgb / rgb.max()


@dataclass(frozen=True)
class Lighting:
    """Directional light + ambient term."""

    direction: tuple[float, float, float] = (0.3, 0.5, 1.0)
    """Direction towards the light in the head frame (normalized on use)."""
    intensity: float = 0.75
    """Strength of the directional light."""
    ambient: float = 0.45
    """Strength of the ambient light."""
    temperature: float = 6500.0
    """Colour temperature of the directional light in kelvin (ambient is half as tinted)."""

    @classmethod
    def studio(cls) -> "Lighting":
        """Soft frontal light (the reference image's lighting)."""
        return cls(direction=(0.15, 0.35, 1.0), intensity=0.6, ambient=0.55, temperature=6500.0)

    @classmethod
    def sample(cls, gen: torch.Generator) -> "Lighting":
        """Random light from the front half-space, random temperature (3000-9000 K) and strength."""
        u = torch.rand(6, generator=gen).tolist()
        az = (u[0] - 0.5) * 2.4  # radians around the vertical axis, 0 = frontal
        el = (u[1] - 0.35) * 1.4
        direction = (math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el))
        return cls(
            direction=direction,
            intensity=0.45 + 0.5 * u[2],
            ambient=0.3 + 0.35 * u[3],
            temperature=3000.0 + 6000.0 * u[4],
        )

    def shade(self, albedo: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        """Lit colour `[N, 3]` in [0, 1] from albedo `[N, 3]` and unit normals `[N, 3]`."""
        light = torch.nn.functional.normalize(torch.tensor(self.direction, dtype=torch.float32), dim=0)
        tint = temperature_rgb(self.temperature)  # [3]
        ambient_tint = 0.5 * (tint + 1.0)
        lambert = (normals @ light).clamp_min(0.0)[:, None]  # [N, 1]
        return (albedo * (self.ambient * ambient_tint + self.intensity * tint * lambert)).clamp(0.0, 1.0)

    def to_dict(self) -> dict:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)
