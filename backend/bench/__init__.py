"""Benchmarks behind `headfuse bench`: one module per area, each with `run(args) -> dict`.

Every figure is a ratio against a baseline measured in the same run, so a noisy machine moves
both sides together. Results are written as one JSON object keyed by area.
"""

AREAS = ("mesh", "synth", "pipeline", "shaders")
