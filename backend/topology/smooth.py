"""Tracked vertices smoothed over time without lag: each frame's points become a centred Gaussian average
of the frames around it in the same shot, so a frame comes out `radius` usable frames after it was fitted
(or at the shot's end). A centred window has no phase lag (a head turn stays on its frames), and the jitter
of the per-frame fits (a few tenths of a millimetre from one frame's landmarks to the next) averages out."""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def centred_weights(radius: int, sigma: float | None = None) -> np.ndarray:
    """`[2 radius + 1]` Gaussian weights (sigma: `radius / 2`, at least 0.5, unless given), not normalised."""
    sigma = max(radius / 2.0, 0.5) if sigma is None else sigma
    return np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)


def smooth_in_time(items: Iterable[T], points_of: Callable[[T], np.ndarray | None], starts_shot: Callable[[T], bool],
                   with_points: Callable[[T, np.ndarray], T], radius: int) -> Iterator[T]:  # fmt: skip
    """`items` in order, each usable one (`points_of(item)`: `[V, 3]`; None passes the item through) given
    the centred average of the usable items within `radius` of it in its shot (`starts_shot(item)`: a cut)
    by `with_points(item, points)`. Holds at most `radius` usable items back; radius 0 changes nothing."""
    weights = centred_weights(radius)
    queue: deque = deque()  # (item, position in the shot or None), not yet yielded, in order
    track: dict[int, np.ndarray] = {}  # position in the shot -> points, while a neighbour still needs them
    count = 0  # usable items in the current shot so far

    def averaged(pos: int) -> np.ndarray:
        near = [k for k in range(-radius, radius + 1) if pos + k in track]
        w = weights[[k + radius for k in near]]
        total = sum(wk * track[pos + k].astype(np.float64) for wk, k in zip(w, near, strict=True))
        return (total / w.sum()).astype(np.float32)

    def ready(shot_over: bool) -> Iterator[T]:
        while queue:
            item, pos = queue[0]
            if pos is not None and not shot_over and pos + radius >= count:
                return
            queue.popleft()
            yield item if pos is None else with_points(item, averaged(pos))
            if pos is not None:
                track.pop(pos - radius, None)

    for item in items:
        if starts_shot(item):
            yield from ready(True)
            track.clear()
            count = 0
        points = points_of(item)
        if points is None:
            queue.append((item, None))
        else:
            track[count] = points
            queue.append((item, count))
            count += 1
        yield from ready(False)
    yield from ready(True)
