"""Identity: the continuous parameters of one synthetic person, drawn reproducibly from a seed."""

import dataclasses
from dataclasses import dataclass

import torch

# Uniform sampling range of every identity parameter (the neutral template is the middle).
RANGES: dict[str, tuple[float, float]] = {
    "scale": (0.94, 1.05),
    "width": (0.9, 1.1),
    "depth": (0.94, 1.06),
    "jaw_width": (0.82, 1.15),
    "chin_size": (0.8, 1.25),
    "chin_drop": (-0.01, 0.015),
    "cheek": (0.8, 1.2),
    "brow_ridge": (0.7, 1.3),
    "eye_spacing": (-0.006, 0.006),
    "eye_size": (0.88, 1.12),
    "eye_height": (-0.008, 0.008),
    "nose_length": (0.85, 1.2),
    "nose_width": (0.8, 1.3),
    "nose_projection": (0.85, 1.2),
    "lip_width": (0.85, 1.2),
    "lip_fullness": (0.7, 1.35),
    "ear_size": (0.85, 1.2),
    "ear_angle": (0.0, 0.35),
    "neck_width": (0.88, 1.15),
    "skin_tone": (0.0, 1.0),
    "skin_warmth": (-1.0, 1.0),
    "lip_tint": (0.0, 1.0),
    "hair_thickness": (0.004, 0.045),
    "hair_front": (0.125, 0.2),
    "hair_side": (-0.32, 0.09),
    "hair_back": (-0.33, -0.05),
    "hair_tone": (0.0, 1.0),
    "hair_red": (0.0, 1.0),
    "hair_grey": (0.0, 1.0),
    "brow_thickness": (0.7, 1.4),
    "brow_arch": (0.0, 1.0),
    "iris_tone": (0.0, 1.0),
    "clothes_r": (0.05, 0.9),
    "clothes_g": (0.05, 0.9),
    "clothes_b": (0.05, 0.9),
}


@dataclass(frozen=True)
class Identity:
    """One person: head/face shape, skin, hair, eyes, nose, lips, ears, brows and clothes.

    Every field is a float inside `RANGES[name]`; `Identity.template()` is the mid-range person.
    """

    scale: float
    """Overall head size factor."""
    width: float
    """Head width factor (x)."""
    depth: float
    """Head depth factor (z, front to back)."""
    jaw_width: float
    """Lower face width factor."""
    chin_size: float
    """Chin size factor."""
    chin_drop: float
    """Chin moves down by this much (box units): a longer face."""
    cheek: float
    """Cheek fullness factor."""
    brow_ridge: float
    """Brow ridge prominence factor."""
    eye_spacing: float
    """Extra half distance between the eyes (box units)."""
    eye_size: float
    """Eye size factor."""
    eye_height: float
    """Eye height offset (box units)."""
    nose_length: float
    """Nose length factor."""
    nose_width: float
    """Nose width factor."""
    nose_projection: float
    """How far the nose sticks out (factor)."""
    lip_width: float
    """Mouth width factor."""
    lip_fullness: float
    """Lip thickness factor."""
    ear_size: float
    """Ear size factor."""
    ear_angle: float
    """How far the ears stick out (radians)."""
    neck_width: float
    """Neck width factor."""
    skin_tone: float
    """0 very light to 1 very dark skin."""
    skin_warmth: float
    """-1 pink/cool to 1 yellow/olive undertone."""
    lip_tint: float
    """0 pale to 1 strongly red lips."""
    hair_thickness: float
    """Thickness of the hair layer over the skull (box units)."""
    hair_front: float
    """Height of the front hairline (box units; higher shows more forehead)."""
    hair_side: float
    """How far the hair comes down at the sides (box units; low values give long hair)."""
    hair_back: float
    """How far the hair comes down at the back (box units)."""
    hair_tone: float
    """0 black, 0.5 brown, 1 blond."""
    hair_red: float
    """Red tint of the hair."""
    hair_grey: float
    """Greying of the hair (only the top of the range shows)."""
    brow_thickness: float
    """Eyebrow thickness factor."""
    brow_arch: float
    """Eyebrow arch height."""
    iris_tone: float
    """0 dark brown, 0.4 hazel, 0.7 green, 1 blue."""
    clothes_r: float
    """Clothes colour, red."""
    clothes_g: float
    """Clothes colour, green."""
    clothes_b: float
    """Clothes colour, blue."""

    @classmethod
    def sample(cls, seed: int) -> "Identity":
        """The identity of person `seed` (any int; the same seed always gives the same person)."""
        gen = torch.Generator().manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)
        u = torch.rand(len(RANGES), generator=gen, dtype=torch.float64).tolist()
        return cls(**{name: lo + (hi - lo) * x for (name, (lo, hi)), x in zip(RANGES.items(), u, strict=True)})

    @classmethod
    def template(cls) -> "Identity":
        """The mid-range person."""
        return cls(**{name: 0.5 * (lo + hi) for name, (lo, hi) in RANGES.items()})

    def to_dict(self) -> dict[str, float]:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)
