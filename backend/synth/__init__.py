"""Procedural expressive synthetic heads with exact ground truth (training and evaluation data)."""

from pathlib import Path

SAMPLE_CLIP_DIR = Path(__file__).resolve().parent / "assets" / "sample_clip"
"""The shipped sample clip (video.mp4, reference.png, ground truth); its README has the command that made it."""
