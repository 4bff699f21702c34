"""Expression: six blend controls in [0, 1], each acting only inside its own region of the face."""

import dataclasses
from dataclasses import dataclass

import torch

NAMES = ("jaw_open", "smile", "brow_raise", "blink", "pucker", "tongue_out")

# Where each control may change the head (centre, radii of an ellipsoid in the canonical head
# frame, box units, for the template identity; identity scale stays within the margins). The
# locality test checks that nothing outside these regions moves.
REGIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "jaw_open": ((0.0, -0.17, 0.16), (0.23, 0.17, 0.23)),
    "smile": ((0.0, -0.06, 0.22), (0.2, 0.13, 0.15)),
    "brow_raise": ((0.0, 0.085, 0.23), (0.15, 0.08, 0.11)),
    "blink": ((0.0, 0.035, 0.26), (0.12, 0.04, 0.06)),
    "pucker": ((0.0, -0.115, 0.27), (0.09, 0.06, 0.08)),
    "tongue_out": ((0.0, -0.17, 0.16), (0.23, 0.17, 0.23)),  # opens the jaw too
}


@dataclass(frozen=True)
class Expression:
    """Expression controls; 0 is neutral, 1 the full expression."""

    jaw_open: float = 0.0
    """Opens the mouth: the jaw turns down about a hinge near the ears."""
    smile: float = 0.0
    """Mouth corners up and out, cheeks up."""
    brow_raise: float = 0.0
    """Eyebrows and the skin above them move up."""
    blink: float = 0.0
    """Eyelids close (1 = shut)."""
    pucker: float = 0.0
    """Lips narrow and push forward."""
    tongue_out: float = 0.0
    """The tongue comes out of the mouth (opens the jaw at least a little)."""

    @classmethod
    def neutral(cls) -> "Expression":
        """All controls at 0."""
        return cls()

    @classmethod
    def sample(cls, gen: torch.Generator, p_neutral: float = 0.15) -> "Expression":
        """A random expression: each control is off with probability 0.5, else uniform in [0, 1]."""
        if float(torch.rand((), generator=gen)) < p_neutral:
            return cls()
        u = torch.rand(2, len(NAMES), generator=gen)
        values = torch.where(u[0] < 0.5, torch.zeros(len(NAMES)), u[1]).tolist()
        values[NAMES.index("tongue_out")] *= float(u[0, NAMES.index("tongue_out")] < 0.2)
        return cls(**dict(zip(NAMES, values, strict=True)))

    def to_dict(self) -> dict[str, float]:
        """JSON-friendly dict."""
        return dataclasses.asdict(self)

    def as_tensor(self) -> torch.Tensor:
        """The controls in `NAMES` order, `[6]`."""
        return torch.tensor([getattr(self, n) for n in NAMES], dtype=torch.float32)
