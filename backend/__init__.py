"""headfuse backend: monocular portrait video -> per-frame 3D heads (triplane fields, meshes)."""

__version__ = "0.1.0"
