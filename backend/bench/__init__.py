"""Benchmarks behind `headfuse bench`: one module per area, each with `run(args) -> dict`.

Every figure is a ratio against a baseline measured in the same run, so a noisy machine moves
both sides together. Results are written as one JSON object keyed by area.
"""

import statistics
import time

AREAS = ("mesh", "texture", "synth", "pipeline", "server", "shaders", "blender", "batch")


def timed(fn, repeats: int) -> tuple[float, object]:
    """Run `fn` `repeats` times; the median milliseconds and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), out
