"""Temporal smoothing of pose and crop: the One Euro filter (Casiez, Roussel, Vogel, CHI 2012).

A low-pass filter whose cutoff rises with the speed of the signal: steady when the head is still
(jitter removed), little lag when it moves fast. `reset()` forgets the past (use it at cuts).
"""

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter over a vector `[D]`, each component filtered on its own."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(
                f"OneEuroFilter needs min_cutoff > 0, d_cutoff > 0, beta >= 0 (got {min_cutoff}, {d_cutoff}, {beta})"
            )
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the history: the next sample passes through unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x, t: float) -> np.ndarray:
        """Filter sample `x [D]` taken at time `t` (seconds, increasing); returns the smoothed `[D]`."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1.0 - a_d) * self._dx
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1.0 - a) * self._x
        self._t = t
        return self._x.copy()


class ViewSmoother:
    """Smooths the per-frame view parameters: pose angles (yaw, pitch, roll) and the crop window.

    Angles are unwrapped against the previous output so a turn through +-pi does not spin back. The
    crop centre is filtered in units of the crop side at the last reset and the side as its logarithm,
    so the same settings work for any image size.
    """

    def __init__(self, min_cutoff: float = 1.5, beta_pose: float = 2.0, beta_crop: float = 4.0):
        self.pose = OneEuroFilter(min_cutoff, beta_pose)
        self.crop = OneEuroFilter(min_cutoff, beta_crop)
        self.reset()

    def reset(self) -> None:
        """Forget the history (a cut): the next frame passes through unchanged."""
        self.pose.reset()
        self.crop.reset()
        self._angles: np.ndarray | None = None
        self._unit: float | None = None

    def __call__(self, angles, centre, side: float, t: float) -> tuple[np.ndarray, np.ndarray, float]:
        """Smooth `angles [3]` (radians), `centre [2]` (pixels), `side` (pixels) at time `t` (seconds)."""
        angles = np.asarray(angles, dtype=np.float64)
        if self._angles is not None:
            angles = angles - 2.0 * math.pi * np.round((angles - self._angles) / (2.0 * math.pi))
        if self._unit is None:
            self._unit = float(side)
        self._angles = self.pose(angles, t)
        crop = self.crop(np.concatenate([np.asarray(centre, float) / self._unit, [math.log(side)]]), t)
        return self._angles.copy(), crop[:2] * self._unit, float(math.exp(crop[2]))
