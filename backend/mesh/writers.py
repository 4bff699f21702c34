"""Mesh writers: PLY (binary, vertex colours, uv), OBJ + MTL + PNG, and GLB (glTF 2.0 binary).

Each writer takes a `Mesh` (metres, y up) and a path; textures are PNG. Files are written to a
temporary name and renamed, so a reader never sees half a file.
"""

import io
import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from backend.files import atomic_write
from backend.mesh.types import Mesh


def png_bytes(image: np.ndarray) -> bytes:
    """An `[H, W, 3]` uint8 image as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_ply(mesh: Mesh, path: str | Path) -> Path:
    """Binary little-endian PLY with xyz, rgb (uchar) and, when present, texture coordinates s, t."""
    path = Path(path)
    v = mesh.vertices.shape[0]
    props = [("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    if mesh.uv is not None:
        props += [("s", "f4"), ("t", "f4")]
    vert = np.empty(v, dtype=[(n, "<" + t) for n, t in props])
    vert["x"], vert["y"], vert["z"] = mesh.vertices.T
    vert["red"], vert["green"], vert["blue"] = mesh.colors.T
    if mesh.uv is not None:
        vert["s"], vert["t"] = mesh.uv.T
    faces = np.empty(mesh.faces.shape[0], dtype=[("n", "u1"), ("i", "<i4", (3,))])
    faces["n"] = 3
    faces["i"] = mesh.faces
    ptype = {"f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", "comment headfuse mesh, metres, y up", f"element vertex {v}"]
    header += [f"property {ptype[t]} {n}" for n, t in props]
    header += [f"element face {mesh.faces.shape[0]}", "property list uchar int vertex_indices", "end_header"]
    atomic_write(path, ("\n".join(header) + "\n").encode() + vert.tobytes() + faces.tobytes())
    return path


def write_obj(mesh: Mesh, path: str | Path) -> Path:
    """OBJ with vertex colours (`v x y z r g b`), uv, normals, plus an MTL and a PNG texture when textured."""
    path = Path(path)
    lines = [f"# headfuse mesh, metres, y up: {mesh.vertices.shape[0]} vertices, {mesh.faces.shape[0]} faces"]
    textured = mesh.uv is not None and mesh.texture is not None
    if textured:
        mtl, png = path.with_suffix(".mtl"), path.with_suffix(".png")
        atomic_write(png, mesh.texture_png())
        atomic_write(mtl, f"newmtl head\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nillum 1\nmap_Kd {png.name}\n".encode())
        lines += [f"mtllib {mtl.name}", "usemtl head"]
    rgb = mesh.colors.astype(np.float32) / 255.0
    vdata = np.concatenate([mesh.vertices, rgb], axis=1)
    buf = io.StringIO()
    buf.write("\n".join(lines) + "\n")
    np.savetxt(buf, vdata, fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
    f1 = mesh.faces + 1
    if textured:
        np.savetxt(buf, mesh.uv, fmt="vt %.6f %.6f")
    if mesh.normals is not None:
        np.savetxt(buf, mesh.normals, fmt="vn %.5f %.5f %.5f")
    if textured and mesh.normals is not None:
        np.savetxt(buf, np.repeat(f1, 3, axis=1), fmt="f %d/%d/%d %d/%d/%d %d/%d/%d")
    elif textured:
        np.savetxt(buf, np.repeat(f1, 2, axis=1), fmt="f %d/%d %d/%d %d/%d")
    elif mesh.normals is not None:
        np.savetxt(buf, np.repeat(f1, 2, axis=1), fmt="f %d//%d %d//%d %d//%d")
    else:
        np.savetxt(buf, f1, fmt="f %d %d %d")
    atomic_write(path, buf.getvalue().encode())
    return path


def glb_bytes(mesh: Mesh, name: str = "head") -> bytes:
    """The mesh as a glTF 2.0 binary. With a texture: POSITION, NORMAL, TEXCOORD_0 and a PNG base
    colour (repeating in u); without: COLOR_0 carries the vertex colours (glTF multiplies COLOR_0
    into the base colour, so both together would darken the head)."""
    blobs: list[bytes] = []
    views, accessors = [], []
    offset = 0

    def add_view(data: bytes, target: int | None = None) -> int:
        nonlocal offset
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target:
            view["target"] = target
        views.append(view)
        pad = (-len(data)) % 4
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
        return len(views) - 1

    def add_accessor(array: np.ndarray, ctype: int, kind: str, target: int, normalized=False, minmax=False) -> int:
        acc = {
            "bufferView": add_view(array.tobytes(), target),
            "componentType": ctype,
            "count": int(array.shape[0]),
            "type": kind,
        }
        if normalized:
            acc["normalized"] = True
        if minmax:
            acc["min"] = array.min(axis=0).tolist()
            acc["max"] = array.max(axis=0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    ARRAY, ELEMENTS, FLOAT, UBYTE, UINT = 34962, 34963, 5126, 5121, 5125
    attrs = {"POSITION": add_accessor(mesh.vertices, FLOAT, "VEC3", ARRAY, minmax=True)}
    if mesh.normals is not None:
        attrs["NORMAL"] = add_accessor(mesh.normals, FLOAT, "VEC3", ARRAY)
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "headfuse"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
    }
    material = {"name": name, "pbrMetallicRoughness": {"metallicFactor": 0.0, "roughnessFactor": 1.0}}
    textured = mesh.uv is not None and mesh.texture is not None
    if textured:
        st = np.ascontiguousarray(np.stack([mesh.uv[:, 0], 1.0 - mesh.uv[:, 1]], axis=1), dtype=np.float32)
        attrs["TEXCOORD_0"] = add_accessor(st, FLOAT, "VEC2", ARRAY)
        gltf["images"] = [{"bufferView": add_view(mesh.texture_png()), "mimeType": "image/png"}]
        gltf["samplers"] = [{"magFilter": 9729, "minFilter": 9729, "wrapS": 10497, "wrapT": 33071}]
        gltf["textures"] = [{"source": 0, "sampler": 0}]
        material["pbrMetallicRoughness"]["baseColorTexture"] = {"index": 0}
    else:
        rgba = np.concatenate([mesh.colors, np.full((mesh.colors.shape[0], 1), 255, np.uint8)], axis=1)
        attrs["COLOR_0"] = add_accessor(np.ascontiguousarray(rgba), UBYTE, "VEC4", ARRAY, normalized=True)
    indices = add_accessor(mesh.faces.astype(np.uint32).reshape(-1), UINT, "SCALAR", ELEMENTS)
    gltf["meshes"] = [
        {"name": name, "primitives": [{"attributes": attrs, "indices": indices, "material": 0, "mode": 4}]}
    ]
    gltf["materials"] = [material]
    gltf["accessors"] = accessors
    gltf["bufferViews"] = views
    binary = b"".join(blobs)
    gltf["buffers"] = [{"byteLength": len(binary)}]
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * ((-len(js)) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    return (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(js), b"JSON")
        + js
        + struct.pack("<I4s", len(binary), b"BIN\0")
        + binary
    )


def write_glb(mesh: Mesh, path: str | Path) -> Path:
    """Write `glb_bytes(mesh)` to `path`."""
    path = Path(path)
    atomic_write(path, glb_bytes(mesh, name=path.stem))
    return path


WRITERS = {"glb": write_glb, "ply": write_ply, "obj": write_obj}


def write_mesh(mesh: Mesh, path: str | Path) -> Path:
    """Write by extension (.glb, .ply, .obj)."""
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in WRITERS:
        raise ValueError(f"cannot write {path.name!r}: supported mesh formats are {', '.join(sorted(WRITERS))}")
    return WRITERS[ext](mesh, path)
