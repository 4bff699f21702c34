"""The mesh every stage after marching cubes passes along."""

from dataclasses import dataclass

import numpy as np


@dataclass
class Mesh:
    """A triangle mesh in metres, in the canonical head frame (y up, face towards +z).

    vertices `[V, 3]` float32 metres; faces `[F, 3]` int32, counter-clockwise seen from outside;
    colors `[V, 3]` uint8 (from the field); uv `[V, 2]` float32 (OpenGL: origin bottom-left,
    u may exceed 1 across the wrap-around seam of the head projection: textures repeat in u);
    texture `[T, T, 3]` uint8 or None; normals `[V, 3]` float32 unit vertex normals or None.
    One index buffer serves every attribute.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    normals: np.ndarray | None = None

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32)
        self.colors = np.ascontiguousarray(self.colors, dtype=np.uint8)
        v = self.vertices.shape[0]
        assert (
            self.vertices.ndim == 2 and self.vertices.shape[1] == 3
        ), f"vertices must be [V, 3], got {self.vertices.shape}"
        assert self.faces.ndim == 2 and self.faces.shape[1] == 3, f"faces must be [F, 3], got {self.faces.shape}"
        assert self.colors.shape == (v, 3), f"colors must be [{v}, 3], got {self.colors.shape}"
        if self.uv is not None:
            self.uv = np.ascontiguousarray(self.uv, dtype=np.float32)
            assert self.uv.shape == (v, 2), f"uv must be [{v}, 2], got {self.uv.shape}"
        if self.normals is not None:
            self.normals = np.ascontiguousarray(self.normals, dtype=np.float32)
            assert self.normals.shape == (v, 3), f"normals must be [{v}, 3], got {self.normals.shape}"

    def texture_png(self) -> bytes:
        """The texture as PNG bytes, encoded once per texture (every writer and the wire share them)."""
        cached = getattr(self, "_png", None)
        if cached is None or cached[0] is not self.texture:
            from backend.mesh.writers import png_bytes

            cached = (self.texture, png_bytes(self.texture))
            self._png = cached
        return cached[1]

    def face_normals(self) -> np.ndarray:
        """Unit normals `[F, 3]`."""
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        n = np.cross(b - a, c - a)
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)

    def vertex_normals(self, weld: np.ndarray | None = None) -> np.ndarray:
        """Area-weighted unit vertex normals `[V, 3]` computed from this index buffer; with `weld [V]` (the
        point each vertex is, as a UV seam duplicates them) the vertices of one point share its normal."""
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        fn = np.cross(b - a, c - a)
        at = self.faces if weld is None else weld[self.faces]
        n = np.zeros((self.vertices.shape[0] if weld is None else int(weld.max()) + 1, 3), self.vertices.dtype)
        for i in range(3):
            np.add.at(n, at[:, i], fn)
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        return n if weld is None else n[weld]

    def volume(self) -> float:
        """Signed volume in cubic metres (positive for a closed mesh with outward faces)."""
        a, b, c = (self.vertices[self.faces[:, i]].astype(np.float64) for i in range(3))
        return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
