"""The live preview in real Blender (pip `bpy`): the shader compiled by Blender's `gpu` module and drawn
offscreen from viewport matrices, against the torch renderer; bad input never raises.

moderngl is kept out of this process: its EGL context would become current under Blender's feet."""

import numpy as np
import pytest
import torch

from backend.config import RenderConfig
from backend.metrics import psnr
from backend.render import TriplaneField, intrinsics_matrix, orbit_camera, render_image
from backend.render.glsl import decoder_arrays
from backend.render.glsl import pack_decoder as backend_pack_decoder
from backend.render.glsl import pack_planes as backend_pack_planes
from headfuse_wire import conventions
from tests.render.test_glsl import make_field

bpy = pytest.importorskip("bpy")

RES = 48
STEPS = 24
METRES = conventions.METRES_PER_BOX_UNIT


@pytest.fixture
def preview(scene):
    import addon_utils

    addon_utils.enable("blender_addon", default_set=False)  # registers the preview with the rest of the add-on
    from blender_addon import preview

    yield preview
    preview.clear()
    addon_utils.disable("blender_addon")


def _gpu_ready(scene) -> None:
    """In background mode `gpu` only works once Blender has made its GPU context: a tiny Workbench
    render does that where EGL is available; otherwise skip with the reason."""
    import gpu

    try:
        gpu.types.GPUOffScreen(4, 4)
        return
    except SystemError:
        pass
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = scene.render.resolution_y = 4
    cam = bpy.data.objects.new("gpu-init", bpy.data.cameras.new("gpu-init"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    try:
        bpy.ops.render.render(write_still=False)
        gpu.types.GPUOffScreen(4, 4)
    except (RuntimeError, SystemError) as exc:
        pytest.skip(f"Blender's gpu module has no GPU context in this headless session: {exc}")


def _field(preview, frame: int = 1):
    planes, dec = make_field(3, 3.0)
    msg = preview.set_frame_triplane(frame, planes[0].numpy(), decoder_arrays(dec))
    assert msg == ""
    return planes, dec, preview.CACHE[frame]


def _torch_rgba(planes, dec, cam, K, res) -> np.ndarray:
    """Premultiplied RGBA `[res, res, 4]` of the torch renderer with the preview's samples."""
    with torch.no_grad():
        out = render_image(TriplaneField(planes, dec), cam, K[None], res, RenderConfig(n_coarse=STEPS, n_fine=0))
    return torch.cat([out["rgb"], out["opacity"]], dim=1)[0].permute(1, 2, 0).numpy()


def _perspective(K: torch.Tensor, near: float = 0.01, far: float = 100.0) -> np.ndarray:
    P = np.zeros((4, 4))
    P[0, 0], P[0, 2] = 2 * K[0, 0], 1 - 2 * K[0, 2]
    P[1, 1], P[1, 2] = 2 * K[1, 1], 2 * K[1, 2] - 1
    P[2, 2], P[2, 3], P[3, 2] = -(far + near) / (far - near), -2 * far * near / (far - near), -1.0
    return P


def _view(preview, c2w_box: torch.Tensor, entry: dict) -> np.ndarray:
    """Blender view matrix (world -> view) of an OpenCV camera given in box units."""
    m = entry["box_to_world"] @ c2w_box.double().numpy()
    m[:3, :3] /= np.linalg.norm(m[:3, :3], axis=0)
    return np.linalg.inv(m @ conventions.CV_TO_BLENDER)


def _draw_offscreen(preview, entry, view, proj, res) -> np.ndarray:
    import gpu

    off = gpu.types.GPUOffScreen(res, res, format="RGBA32F")
    with off.bind():
        gpu.state.active_framebuffer_get().clear(color=(0.0, 0.0, 0.0, 0.0))
        preview.draw_field(entry, view, proj, STEPS)
        rgba = np.array(off.texture_color.read().to_list(), dtype=np.float32).reshape(res, res, 4)
    off.free()
    return rgba[::-1]


def test_shader_compiles_in_blender(scene, preview):
    _gpu_ready(scene)
    import gpu

    with gpu.types.GPUOffScreen(8, 8).bind():
        for channels, hidden in ((24, 64), (32, 128), (7, 21)):
            assert preview.shader(channels, hidden) is not None


@pytest.mark.parametrize("yaw, cx", [(0.0, 0.5), (0.5, 0.4)])
def test_viewport_draw_matches_moderngl(scene, preview, yaw, cx):
    """The draw handler's path (view/window matrices -> rays in box units) gives the torch renderer's image."""
    _gpu_ready(scene)
    planes, dec, entry = _field(preview)
    cam, K = orbit_camera(yaw, 0.1), intrinsics_matrix(3.0, cx, 0.55)
    got = _draw_offscreen(preview, entry, _view(preview, cam[0], entry), _perspective(K), RES)
    want = _torch_rgba(planes, dec, cam, K, RES)
    assert want[..., 3].max() > 0.5, "the field should be visible"
    assert _psnr(got, want) >= 35.0


def test_orthographic_view_matches_a_distant_camera(scene, preview):
    _gpu_ready(scene)
    planes, dec, entry = _field(preview)
    width = 1.2  # box units across the image
    far_cam = orbit_camera(0.3, 0.0, radius=2000.0, pivot=(0, 0, 0))
    view = _view(preview, far_cam[0], entry)
    view[2, 3] += 2000.0 * METRES - 3.0  # an orthographic view needs no distance: bring it close
    proj = np.diag([2 / (width * METRES), 2 / (width * METRES), -2 / 100.0, 1.0])
    got = _draw_offscreen(preview, entry, view, proj, RES)
    want = _torch_rgba(planes, dec, far_cam, intrinsics_matrix(2000.0 / width), RES)
    assert want[..., 3].max() > 0.5, "the field should be visible"
    assert _psnr(got, want) >= 35.0


def test_packing_matches_the_backend(preview):
    planes, dec = make_field(4, 1.0, channels=7, hidden=21, size=16)
    arrays = decoder_arrays(dec)
    np.testing.assert_array_equal(preview.pack_planes(planes[0].numpy()), backend_pack_planes(planes[0]))
    np.testing.assert_array_equal(preview.pack_decoder(arrays), backend_pack_decoder(dec))


@pytest.mark.parametrize(
    "planes, decoder, message",
    [
        (np.zeros((2, 24, 8, 8)), "ok", r"shape \[3, C, H, W\]"),
        (np.zeros((3, 16, 8, 8)), "ok", "16 channels, the decoder expects 24"),
        (np.zeros((3, 24, 1, 8)), "ok", "does not fit"),
        (np.full((3, 24, 8, 8), np.nan, np.float16), "ok", "NaN"),
        (np.zeros((3, 24, 8, 8)), None, "no decoder"),
        (np.zeros((3, 24, 8, 8)), {"w1": np.zeros((64, 24))}, "missing b1, w2, b2"),
    ],
)
def test_bad_input_sets_a_message(scene, preview, planes, decoder, message):
    import re

    if decoder == "ok":
        decoder = {k: v.astype(np.float16) for k, v in decoder_arrays(make_field(0, 1.0)[1]).items()}
    scene.frame_current = 7
    scene.headfuse_preview.enabled = True
    msg = preview.set_frame_triplane(7, planes, decoder)
    assert re.search(message, msg) and msg.startswith("preview, frame 7:")
    assert 7 not in preview.CACHE
    assert preview.message(scene) == msg
    scene.frame_current = 8
    assert preview.message(scene) == ""


def test_toggle_operator_and_draw_without_gpu_work(scene, preview):
    """The operator flips the setting; the handler is a no-op for frames without a triplane."""
    assert not scene.headfuse_preview.enabled
    assert bpy.ops.headfuse.toggle_preview() == {"FINISHED"}
    assert scene.headfuse_preview.enabled
    preview._draw()  # no region data in background mode, no triplane: nothing to draw, no error
    assert preview.message(scene) == ""
    bpy.ops.headfuse.toggle_preview()
    assert not scene.headfuse_preview.enabled


def _psnr(got: np.ndarray, want: np.ndarray) -> float:
    """PSNR of two images read back from GPU buffers (possibly flipped views)."""
    a, b = (torch.from_numpy(np.ascontiguousarray(x))[None] for x in (got, want))
    return psnr(a, b).item()
