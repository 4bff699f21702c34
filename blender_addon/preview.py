"""Live triplane preview: the neural field itself, ray-marched in the 3D viewport (bpy only).

A `gpu` draw handler runs the GLSL of `shaders/` (the same source the backend's parity test runs
with moderngl against the torch renderer) from the viewport's own camera (`region_data`'s view
and window matrices, perspective or orthographic). It follows the timeline: `CACHE` maps a
timeline frame to that frame's triplane and decoder, filled through `set_frame_triplane` by
whoever fetches triplanes from the server. The field is placed like the imported meshes: box
units scaled to metres, then the head's world matrix (`importer.head_matrix`).

Bad input (a triplane of the wrong shape, channels that do not match the decoder, a missing
decoder, NaNs) never raises: `set_frame_triplane` returns the message and `message(scene)` gives
the panel what to show for the current frame.
"""

import re
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, IntProperty

from .importer import head_matrix
from .wire import conventions, triplane_pack

VERTEX_SHADER = "fullscreen.vert"
FRAGMENT_SHADER = "triplane_raymarch.frag"
ORTHO_BACKOFF = 100.0
"""Orthographic rays start this far (box units) behind the view plane, so they cross the whole box."""

CACHE: dict[int, dict] = {}
"""Timeline frame -> {"tex": [3 * C/4, H + 2, W + 2, 4] float32, "weights": [N, 4] float32,
"channels", "hidden", "box_to_world": [4, 4]} (packed and validated by `set_frame_triplane`)."""
ERRORS: dict[int, str] = {}
"""Timeline frame -> why its triplane was refused."""
_STATE: dict = {"handler": None, "error": "", "shaders": {}, "field": None, "batch": {}}


# ----------------------------------------------------------------------------- packing (numpy)


def pack_decoder(decoder) -> np.ndarray:
    """Decoder arrays w1 `[hidden, C]`, b1 `[hidden]`, w2 `[1 + F, hidden]`, b2 `[1 + F]` (any float
    dtype) -> the shader's uniform buffer `[N, 4]` float32. Raises ValueError on bad input."""
    if decoder is None:
        raise ValueError("no decoder: the preview needs the triplane's decoder MLP (w1, b1, w2, b2)")
    if not isinstance(decoder, dict):
        raise ValueError(f"decoder must be a dict of arrays w1, b1, w2, b2, got {type(decoder).__name__}")
    missing = [k for k in ("w1", "b1", "w2", "b2") if decoder.get(k) is None]
    if missing:
        raise ValueError(f"decoder is missing {', '.join(missing)}")
    arr = {k: np.asarray(decoder[k], dtype=np.float32) for k in ("w1", "b1", "w2", "b2")}
    triplane_pack.check_decoder(arr)
    return triplane_pack.pack_checked_decoder(arr)


def pack_planes(planes, max_size: int = 16384, max_layers: int = 2048) -> np.ndarray:
    """Triplane `[3, C, H, W]` -> texture array `[3 * C/4, H + 2, W + 2, 4]` float32 with a zero border
    (layer plane * C/4 + group holds channels 4*group..). Raises ValueError on bad input."""
    if planes is None:
        raise ValueError("no triplane for this frame")
    p = np.asarray(planes, dtype=np.float32)
    if p.ndim == 5 and p.shape[0] == 1:
        p = p[0]
    if p.ndim != 4 or p.shape[0] != 3:
        raise ValueError(f"triplane must have shape [3, C, H, W] (planes xy, xz, yz), got {tuple(p.shape)}")
    _, c, h, w = p.shape
    if min(h, w) < 2 or max(h, w) + 2 > max_size or 3 * triplane_pack.channel_groups(c) > max_layers:
        raise ValueError(f"triplane of shape {tuple(p.shape)} does not fit this GPU's textures")
    if not np.isfinite(p).all():
        raise ValueError(f"triplane contains {int((~np.isfinite(p)).sum())} NaN/inf values")
    return triplane_pack.pack_checked_planes(p)


def box_to_world(camera: dict | None, metres_per_box_unit: float) -> np.ndarray:
    """World matrix `[4, 4]` of the field's box: metres, then the head's world matrix (as the meshes)."""
    return head_matrix(camera) @ np.diag([metres_per_box_unit] * 3 + [1.0])


def set_frame_triplane(
    frame: int,
    planes,
    decoder: dict | None,
    camera: dict | None = None,
    metres_per_box_unit: float = conventions.METRES_PER_BOX_UNIT,
) -> str:
    """Validate, pack and cache timeline `frame`'s triplane `[3, C, H, W]` and decoder arrays (w1, b1,
    w2, b2; float16 is fine). `camera` is the frame's camera record (its `head_pose` places the field).
    Returns "" or the error message (the frame then draws nothing and the panel shows why)."""
    frame = int(frame)
    CACHE.pop(frame, None)
    try:
        tex = pack_planes(planes)
        weights = pack_decoder(decoder)
        hidden, channels = np.shape(decoder["w1"])
        c = np.shape(planes)[-3]
        if c != channels:
            raise ValueError(
                f"triplane of shape {tuple(np.shape(planes))} has {c} channels, the decoder expects {channels}"
            )
    except ValueError as exc:
        ERRORS[frame] = f"preview, frame {frame}: {exc}"
        _redraw()
        return ERRORS[frame]
    ERRORS.pop(frame, None)
    CACHE[frame] = {
        "tex": tex,
        "weights": weights,
        "channels": int(channels),
        "hidden": int(hidden),
        "box_to_world": box_to_world(camera, metres_per_box_unit),
    }
    _redraw()
    return ""


def clear() -> None:
    """Forget every cached triplane (e.g. when a new job starts)."""
    CACHE.clear()
    ERRORS.clear()
    _STATE["field"] = None
    _redraw()


def message(scene) -> str:
    """What the panel shows under the toggle: an error for the current frame, or ""."""
    if not scene.headfuse_preview.enabled:
        return ""
    return ERRORS.get(scene.frame_current) or _STATE["error"]


# ----------------------------------------------------------------------------- shader


def shader_dir() -> Path:
    """`shaders/` inside the installed extension, or the repository's when run from a checkout."""
    here = Path(__file__).resolve().parent
    for d in (here / "shaders", here.parent / "shaders"):
        if (d / FRAGMENT_SHADER).is_file():
            return d
    raise FileNotFoundError(f"preview shaders not found beside {here}")


_GPU_TYPES = {"float": "FLOAT", "int": "INT", "vec2": "VEC2", "vec4": "VEC4", "mat4": "MAT4"}
_UNIFORM = re.compile(r"uniform (\w+) (\w+);")
_BLOCK = re.compile(r"layout\(std140\) uniform (\w+) \{ vec4 (\w+)\[WEIGHT_VEC4S\]; \} (\w+);")
_INOUT = re.compile(r"(in|out) (\w+) (\w+);")


def _split(source: str) -> tuple[list[tuple[str, ...]], str]:
    """GLSL 330 source -> (its top-level interface declarations, the rest) for GPUShaderCreateInfo."""
    decls, body = [], []
    for line in source.splitlines():
        if line.startswith("#version"):
            continue
        m = _BLOCK.fullmatch(line) or _UNIFORM.fullmatch(line) or _INOUT.fullmatch(line)
        if m:
            decls.append(("block", *m.groups()) if m.re is _BLOCK else m.groups())
        else:
            body.append(line)
    return decls, "\n".join(body)


def create_info(channels: int, hidden: int):
    """The Blender variant of the preview shader as a `gpu.types.GPUShaderCreateInfo`."""
    import gpu

    d = shader_dir()
    vdecls, vbody = _split((d / VERTEX_SHADER).read_text())
    fdecls, fbody = _split((d / FRAGMENT_SHADER).read_text())
    info = gpu.types.GPUShaderCreateInfo()
    cg, hg = triplane_pack.channel_groups(channels), triplane_pack.hidden_groups(hidden)
    for name, value in (
        ("C_GROUPS", cg),
        ("H_GROUPS", hg),
        ("WEIGHT_VEC4S", triplane_pack.weight_vec4s(channels, hidden)),
    ):
        info.define(name, str(value))
    iface = gpu.types.GPUStageInterfaceInfo("headfuse_preview_iface")
    for kind, typ, name in vdecls:
        if kind == "in":
            info.vertex_in(0, _GPU_TYPES[typ], name)
        else:
            iface.smooth(_GPU_TYPES[typ], name)
    info.vertex_out(iface)
    slot = 0
    for decl in fdecls:
        if decl[0] == "block":
            _, block, member, name = decl
            info.typedef_source(
                f"struct {block} {{ vec4 {member}[{triplane_pack.weight_vec4s(channels, hidden)}]; }};\n"
            )
            info.uniform_buf(0, block, name)
        elif decl[0] == "out":
            info.fragment_out(0, _GPU_TYPES[decl[1]], decl[2])
        elif decl[0] == "in":
            continue  # the vertex stage's interface
        elif decl[0] == "sampler2DArray":
            info.sampler(slot, "FLOAT_2D_ARRAY", decl[1])
            slot += 1
        else:
            info.push_constant(_GPU_TYPES[decl[0]], decl[1])
    info.vertex_source(vbody)
    info.fragment_source(fbody)
    return info


def shader(channels: int, hidden: int):
    """The compiled preview shader for this decoder size (cached)."""
    import gpu

    key = (triplane_pack.channel_groups(channels), triplane_pack.hidden_groups(hidden))
    if key not in _STATE["shaders"]:
        _STATE["shaders"][key] = gpu.shader.create_from_info(create_info(channels, hidden))
    return _STATE["shaders"][key]


def gpu_field(entry: dict):
    """Upload a `CACHE` entry: (planes texture, decoder uniform buffer), reused while it is current."""
    import gpu

    if _STATE["field"] is not None and _STATE["field"][0] is entry:
        return _STATE["field"][1:]
    layers, h, w, _ = entry["tex"].shape
    buf = gpu.types.Buffer("FLOAT", entry["tex"].size, entry["tex"].reshape(-1))
    tex = gpu.types.GPUTexture((w, h), layers=layers, format="RGBA32F", data=buf)
    ubo = gpu.types.GPUUniformBuf(entry["weights"].tobytes())
    _STATE["field"] = (entry, tex, ubo)
    return tex, ubo


def view_camera(view_matrix, window_matrix, box_to_world_m: np.ndarray) -> tuple[np.ndarray, tuple, bool]:
    """A viewport's view and window (projection) matrices `[4, 4]` -> (OpenCV cam2world `[4, 4]` in box
    units, normalized intrinsics (fx, fy, cx, cy), orthographic?) for the shader."""
    V, P = np.array(view_matrix, dtype=np.float64), np.array(window_matrix, dtype=np.float64)
    c2w = np.linalg.inv(box_to_world_m) @ np.linalg.inv(V) @ conventions.CV_TO_BLENDER
    scale = np.linalg.norm(c2w[:3, :3], axis=0)  # metres -> box units scale the axes
    c2w[:3, :3] /= scale
    ortho = abs(P[3, 3]) > 0.5
    if ortho:  # u = fx * x + cx with x the view-plane offset, in box units
        fx, fy = P[0, 0] / 2 / scale[0], P[1, 1] / 2 / scale[1]
        cx, cy = (1 + P[0, 3]) / 2, (1 - P[1, 3]) / 2
        c2w[:3, 3] -= ORTHO_BACKOFF * c2w[:3, 2]
    else:
        fx, fy = P[0, 0] / 2, P[1, 1] / 2
        cx, cy = (1 - P[0, 2]) / 2, (1 + P[1, 2]) / 2
    return c2w, (fx, fy, cx, cy), ortho


def draw_field(entry: dict, view_matrix, window_matrix, steps: int) -> None:
    """Draw a `CACHE` entry over the bound framebuffer's viewport from this view (premultiplied alpha)."""
    import gpu
    from gpu_extras.batch import batch_for_shader

    sh = shader(entry["channels"], entry["hidden"])
    tex, ubo = gpu_field(entry)
    c2w, intrinsics, ortho = view_camera(view_matrix, window_matrix, entry["box_to_world"])
    batch = _STATE["batch"].get(sh)
    if batch is None:
        batch = _STATE["batch"][sh] = batch_for_shader(sh, "TRIS", {"pos": [(-1, -1), (3, -1), (-1, 3)]})
    gpu.state.blend_set("ALPHA_PREMULT")
    gpu.state.depth_test_set("NONE")
    sh.bind()
    sh.uniform_sampler("u_planes", tex)
    sh.uniform_block("u_decoder", ubo)
    sh.uniform_float("u_cam2world", [float(v) for v in c2w.T.reshape(-1)])
    sh.uniform_float("u_intrinsics", [float(v) for v in intrinsics])
    sh.uniform_int("u_steps", int(steps))
    sh.uniform_int("u_ortho", int(ortho))
    sh.uniform_float("u_box_half", 0.5)
    batch.draw(sh)
    gpu.state.blend_set("NONE")


def _draw() -> None:
    """The SpaceView3D draw handler: the current frame's field, when the preview is on."""
    context = bpy.context
    scene, rd = context.scene, context.region_data
    settings = getattr(scene, "headfuse_preview", None)
    if settings is None or not settings.enabled or rd is None:
        return
    entry = CACHE.get(scene.frame_current)
    if entry is None:
        return
    try:
        draw_field(entry, rd.view_matrix, rd.window_matrix, settings.steps)
        _STATE["error"] = ""
    except Exception as exc:  # a shader/GPU failure shows in the panel instead of spamming the console
        _STATE["error"] = f"preview: {type(exc).__name__}: {exc} (turn the preview off and on to retry)"
        _remove_handler()


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def _add_handler() -> None:
    if _STATE["handler"] is None:
        _STATE["handler"] = bpy.types.SpaceView3D.draw_handler_add(_draw, (), "WINDOW", "POST_VIEW")


def _remove_handler() -> None:
    if _STATE["handler"] is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_STATE["handler"], "WINDOW")
        _STATE["handler"] = None


def _enabled_changed(self, context) -> None:
    _STATE["error"] = ""
    if self.enabled:
        _add_handler()
    _redraw()


class HeadfusePreviewSettings(bpy.types.PropertyGroup):
    """Live triplane preview settings of a scene."""

    enabled: BoolProperty(
        name="Live preview",
        default=False,
        update=_enabled_changed,
        description="Ray-march the current frame's triplane field in the viewport (before and instead of meshing)",
    )
    steps: IntProperty(
        name="Steps",
        default=48,
        min=4,
        max=256,
        update=lambda self, context: _redraw(),
        description="Samples per ray: fewer is faster, more is closer to the final render",
    )


class HEADFUSE_OT_toggle_preview(bpy.types.Operator):
    """Show or hide the live triplane preview in the 3D viewport"""

    bl_idname = "headfuse.toggle_preview"
    bl_label = "Live preview"

    def execute(self, context):
        settings = context.scene.headfuse_preview
        settings.enabled = not settings.enabled
        return {"FINISHED"}


CLASSES = (HeadfusePreviewSettings, HEADFUSE_OT_toggle_preview)


def register() -> None:
    """Register the settings (`Scene.headfuse_preview`), the operator and the draw handler."""
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.headfuse_preview = bpy.props.PointerProperty(type=HeadfusePreviewSettings)
    _add_handler()


def unregister() -> None:
    """Undo `register` and free the GPU resources."""
    _remove_handler()
    del bpy.types.Scene.headfuse_preview
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    _STATE.update(shaders={}, field=None, batch={}, error="")
