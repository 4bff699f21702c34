"""The live preview's GLSL (`shaders/`) run headless with moderngl: the parity and benchmark path.

The fragment shader `shaders/triplane_raymarch.frag` ray-marches a triplane field exactly like
`render_image(field, ..., RenderConfig(n_coarse=steps, n_fine=0))`: same rays, same box, same bin
centres, same bilinear sampling, decoder and compositing. This module assembles the sources, packs
a triplane and a decoder into the shader's texture and uniform buffer (validating them first), and
renders cameras offscreen on an EGL context (Mesa's llvmpipe when there is no GPU).

The decoder's wire form (what the server sends, what the Blender add-on packs the same way) is
`decoder_arrays`: w1 `[hidden, C]`, b1 `[hidden]`, w2 `[1 + F, hidden]`, b2 `[1 + F]`.
"""

from pathlib import Path

import numpy as np
import torch

from backend.render.decoder import TriplaneDecoder
from headfuse_wire.triplane_pack import (
    channel_groups,
    check_decoder,
    hidden_groups,
    pack_checked_decoder,
    pack_checked_planes,
    weight_vec4s,
)

SHADER_DIR = Path(__file__).resolve().parents[2] / "shaders"
VERTEX_SHADER = "fullscreen.vert"
FRAGMENT_SHADER = "triplane_raymarch.frag"
MAX_PLANE_SIZE = 4094
"""Largest plane side: the texture adds a one-texel zero border and GL guarantees 4096 texels."""
FULLSCREEN_TRIANGLE = np.array([-1.0, -1.0, 3.0, -1.0, -1.0, 3.0], dtype=np.float32)


def shader_sources(channels: int, hidden: int) -> tuple[str, str]:
    """(vertex, fragment) GLSL 330 sources for a decoder with `channels` inputs and `hidden` units."""
    vert = (SHADER_DIR / VERTEX_SHADER).read_text()
    frag = (SHADER_DIR / FRAGMENT_SHADER).read_text()
    version, _, body = frag.partition("\n")
    defines = (
        f"#define C_GROUPS {channel_groups(channels)}\n#define H_GROUPS {hidden_groups(hidden)}\n"
        f"#define WEIGHT_VEC4S {weight_vec4s(channels, hidden)}\n"
    )
    return vert, f"{version}\n{defines}{body}"


def decoder_arrays(decoder) -> dict[str, np.ndarray]:
    """A `TriplaneDecoder` (or a dict of its arrays) -> float32 w1 `[hidden, C]`, b1 `[hidden]`,
    w2 `[1 + F, hidden]`, b2 `[1 + F]`, checked for shapes and finiteness."""
    if decoder is None:
        raise ValueError("no decoder: the preview needs the triplane's decoder MLP (w1, b1, w2, b2)")
    if isinstance(decoder, TriplaneDecoder):
        first, last = decoder.net[0], decoder.net[2]
        decoder = {"w1": first.weight, "b1": first.bias, "w2": last.weight, "b2": last.bias}
    if not isinstance(decoder, dict):
        raise ValueError(f"decoder must be a TriplaneDecoder or a dict of arrays, got {type(decoder).__name__}")
    missing = [k for k in ("w1", "b1", "w2", "b2") if k not in decoder or decoder[k] is None]
    if missing:
        raise ValueError(f"decoder is missing {', '.join(missing)}")
    arr = {k: _numpy(decoder[k]) for k in ("w1", "b1", "w2", "b2")}
    check_decoder(arr)
    return arr


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def pack_decoder(decoder) -> np.ndarray:
    """Decoder -> the shader's uniform buffer `[WEIGHT_VEC4S, 4]` float32 (layout in the .frag header).

    W1 is divided by 3 there: the shader sums the three planes, the renderer averages them.
    """
    return pack_checked_decoder(decoder_arrays(decoder))


def pack_planes(planes) -> np.ndarray:
    """Triplane `[3, C, H, W]` (or `[1, 3, C, H, W]`) -> texture array `[3 * C/4, H + 2, W + 2, 4]` float32.

    Layer `plane * C/4 + group` holds channels 4*group.. of that plane as RGBA, framed by one texel
    of zeros (grid_sample's zero padding). Channels are zero-padded to a multiple of 4.
    """
    p = _numpy(planes)
    if p.ndim == 5 and p.shape[0] == 1:
        p = p[0]
    if p.ndim != 4 or p.shape[0] != 3:
        raise ValueError(f"triplane must have shape [3, C, H, W] (planes xy, xz, yz), got {tuple(p.shape)}")
    _, c, h, w = p.shape
    if min(h, w) < 2 or max(h, w) > MAX_PLANE_SIZE:
        raise ValueError(f"triplane planes must be between 2 and {MAX_PLANE_SIZE} texels a side, got {h}x{w}")
    if not np.isfinite(p).all():
        raise ValueError(f"triplane contains {int((~np.isfinite(p)).sum())} NaN/inf values")
    return pack_checked_planes(p)


def check_field(planes, decoder) -> tuple[np.ndarray, np.ndarray]:
    """Validate and pack a triplane `[3, C, H, W]` and its decoder; returns (planes texture, weights)."""
    tex = pack_planes(planes)
    weights = pack_decoder(decoder)
    c, channels = tuple(planes.shape)[-3], decoder_arrays(decoder)["w1"].shape[1]
    if c != channels:
        raise ValueError(f"triplane of shape {tuple(planes.shape)} has {c} channels, the decoder expects {channels}")
    return tex, weights


def egl_context():
    """A standalone moderngl context on EGL (a GPU's driver, or Mesa's llvmpipe without one)."""
    import moderngl

    try:
        return moderngl.create_context(standalone=True, backend="egl", require=330)
    except Exception as exc:  # glcontext raises plain Exceptions for a missing libEGL / driver
        raise RuntimeError(
            f"no OpenGL 3.3 context on EGL ({exc}); install Debian's libegl1 libegl-mesa0 libgl1-mesa-dri "
            "(`make setup` does when run as root)"
        ) from exc


class GLSLPreview:
    """The preview shader on a headless moderngl context: `set_field` once, then `render` cameras."""

    def __init__(self, ctx=None):
        self.ctx = ctx or egl_context()
        self._programs: dict[tuple[int, int], object] = {}
        self._vbo = self.ctx.buffer(FULLSCREEN_TRIANGLE.tobytes())
        self._field = None

    @property
    def renderer(self) -> str:
        """The OpenGL renderer string (e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`)."""
        return self.ctx.info["GL_RENDERER"]

    def _program(self, channels: int, hidden: int):
        key = (channel_groups(channels), hidden_groups(hidden))
        if key not in self._programs:
            vert, frag = shader_sources(channels, hidden)
            prog = self.ctx.program(vertex_shader=vert, fragment_shader=frag)
            prog["DecoderWeights"].binding = 0
            prog["u_planes"].value = 0
            vao = self.ctx.vertex_array(prog, [(self._vbo, "2f", "pos")])
            self._programs[key] = (prog, vao)
        return self._programs[key]

    def set_field(self, planes, decoder) -> None:
        """Upload a triplane `[3, C, H, W]` (torch or numpy) and its decoder (see `decoder_arrays`)."""
        tex_data, weights = check_field(planes, decoder)
        hidden, channels = decoder_arrays(decoder)["w1"].shape
        if self._field is not None:
            self._field[0].release()
            self._field[1].release()
        layers, h, w, _ = tex_data.shape
        tex = self.ctx.texture_array((w, h, layers), 4, tex_data.tobytes(), dtype="f4")
        ubo = self.ctx.buffer(weights.tobytes())
        self._field = (tex, ubo, channels, hidden)

    def render_rgba(self, cam2world, intrinsics, resolution, steps: int = 48, box_half: float = 0.5) -> np.ndarray:
        """Premultiplied RGBA `[H, W, 4]` float32 for an OpenCV camera `cam2world [4, 4]` (box units)
        with normalized `intrinsics [3, 3]` at `resolution` (int or (H, W)), `steps` samples a ray."""
        if self._field is None:
            raise ValueError("no field: call set_field(planes, decoder) before render")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        h, w = (resolution, resolution) if isinstance(resolution, int) else (int(resolution[0]), int(resolution[1]))
        c2w = _numpy(cam2world).reshape(-1, 4, 4)[0]
        K = _numpy(intrinsics).reshape(-1, 3, 3)[0]
        tex, ubo, channels, hidden = self._field
        prog, vao = self._program(channels, hidden)
        prog["u_cam2world"].write(np.ascontiguousarray(c2w.T).tobytes())
        prog["u_intrinsics"].value = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
        prog["u_steps"].value = int(steps)
        prog["u_ortho"].value = 0
        prog["u_box_half"].value = float(box_half)
        rb = self.ctx.renderbuffer((w, h), 4, dtype="f4")
        fbo = self.ctx.framebuffer(color_attachments=[rb])
        try:
            fbo.use()
            self.ctx.viewport = (0, 0, w, h)
            tex.use(0)
            ubo.bind_to_uniform_block(0)
            vao.render(mode=self.ctx.TRIANGLES, vertices=3)
            data = np.frombuffer(fbo.read(components=4, dtype="f4"), dtype=np.float32).reshape(h, w, 4)
        finally:
            fbo.release()
            rb.release()
        return data[::-1].copy()  # GL rows run bottom-up

    def render(
        self, cam2world, intrinsics, resolution, steps: int = 48, background: float = 0.0, box_half: float = 0.5
    ) -> np.ndarray:
        """RGB `[H, W, 3]` float32 composited over grey `background`, as `render_image`'s rgb."""
        rgba = self.render_rgba(cam2world, intrinsics, resolution, steps, box_half)
        return rgba[..., :3] + (1.0 - rgba[..., 3:]) * background

    def release(self) -> None:
        """Free the GL objects and the context."""
        if self._field is not None:
            self._field[0].release()
            self._field[1].release()
            self._field = None
        self.ctx.release()
