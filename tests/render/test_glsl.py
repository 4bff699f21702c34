"""The preview shader (moderngl on EGL, Mesa's llvmpipe without a GPU) against the torch renderer."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backend.config import RenderConfig
from backend.metrics import psnr
from backend.render import TriplaneDecoder, TriplaneField, intrinsics_matrix, orbit_camera, render_image
from backend.render.glsl import GLSLPreview, decoder_arrays, pack_decoder, pack_planes, weight_vec4s

RES = 64
STEPS = 32


def make_field(seed: int, density_bias: float, channels: int = 24, hidden: int = 64, size: int = 64):
    """Seeded random smooth planes `[1, 3, C, size, size]` and a decoder whose density varies in the box."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dec = TriplaneDecoder(channels, hidden, 16)
    with torch.no_grad():
        dec.net[2].weight.mul_(4.0)
        dec.net[2].bias[0] = density_bias
    coarse = torch.randn(3, channels, 8, 8, generator=g)
    planes = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False) * 2.0
    planes = planes + 0.3 * torch.randn(planes.shape, generator=g)
    return planes[None], dec


CAMERAS = {
    "frontal": (orbit_camera(0.0), intrinsics_matrix(batch=1)),
    "off-centre principal point": (orbit_camera(0.3, 0.1), intrinsics_matrix(4.2647, 0.35, 0.62, batch=1)),
    "wide, close, rolled": (
        orbit_camera(-0.7, -0.3, radius=1.6, pivot=(0, 0, 0), roll=0.4),
        intrinsics_matrix(1.2, batch=1),
    ),
    "from behind and above": (
        orbit_camera(2.8, 0.9, radius=2.2, pivot=(0, 0, 0)),
        intrinsics_matrix(2.0, 0.55, 0.45, batch=1),
    ),
}


@pytest.fixture(scope="module")
def preview():
    p = GLSLPreview()
    yield p
    p.release()


def torch_render(planes, dec, cam, K, cfg):
    with torch.no_grad():
        out = render_image(TriplaneField(planes, dec), cam, K, RES, cfg)
    return out["rgb"][0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("name", list(CAMERAS))
@pytest.mark.parametrize("density_bias", [1.0, 4.0], ids=["translucent", "dense"])
def test_parity_with_torch_renderer(preview, name, density_bias):
    planes, dec = make_field(0, density_bias)
    cam, K = CAMERAS[name]
    preview.set_field(planes, dec)
    img = preview.render(cam[0], K[0], RES, steps=STEPS, background=0.5)
    ref = torch_render(planes, dec, cam, K, RenderConfig(n_coarse=STEPS, n_fine=0, background=0.5))
    assert img.shape == (RES, RES, 3)
    assert ref.std() > 0.02, "the test field should not be flat"
    assert psnr(torch.as_tensor(img)[None], torch.as_tensor(ref)[None]).item() >= 35.0


def test_parity_non_square_odd_sizes_float16_wire(preview):
    """Odd channel/hidden counts (padding), a non-square plane and image, float16 on the wire."""
    planes, dec = make_field(1, 2.0, channels=7, hidden=21, size=48)
    planes = planes[..., :37]  # [1, 3, 7, 48, 37]
    wire = {k: v.astype(np.float16) for k, v in decoder_arrays(dec).items()}
    preview.set_field(planes[0].numpy().astype(np.float16), wire)
    cam, K = CAMERAS["off-centre principal point"]
    img = preview.render(cam[0], K[0], (48, 80), steps=STEPS, background=1.0)
    with torch.no_grad():
        ref = render_image(
            TriplaneField(planes, dec), cam, K, (48, 80), RenderConfig(n_coarse=STEPS, n_fine=0, background=1.0)
        )
    ref = ref["rgb"][0].permute(1, 2, 0).numpy()
    assert img.shape == (48, 80, 3)
    assert psnr(torch.as_tensor(img)[None], torch.as_tensor(ref)[None]).item() >= 35.0


def test_opacity_and_misses(preview):
    """Rays that miss the box are transparent; the premultiplied colour never exceeds the opacity."""
    planes, dec = make_field(2, 4.0)
    preview.set_field(planes, dec)
    cam, K = CAMERAS["frontal"]
    rgba = preview.render_rgba(cam[0], K[0], RES, steps=STEPS)
    assert rgba.shape == (RES, RES, 4)
    assert (rgba[..., 3] >= 0).all() and (rgba[..., 3] <= 1.0 + 1e-5).all()
    assert (rgba[..., :3] <= rgba[..., 3:] + 1e-3).all()
    far = preview.render_rgba(orbit_camera(0.0, radius=40.0)[0], intrinsics_matrix(), RES, steps=4)
    assert far[0, 0].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_pack_layouts():
    planes = torch.arange(3 * 5 * 2 * 3, dtype=torch.float32).reshape(3, 5, 2, 3)
    tex = pack_planes(planes)
    assert tex.shape == (3 * 2, 4, 5, 4)  # [3 planes x 2 channel groups, H + 2, W + 2, RGBA]
    assert tex[:, 0].max() == 0 and tex[:, -1].max() == 0 and tex[:, :, 0].max() == 0 and tex[:, :, -1].max() == 0
    assert tex[1 * 2 + 1, 1 + 1, 1 + 2, 0] == planes[1, 4, 1, 2]  # plane xz, channel 4, row 1, column 2
    assert tex[1 * 2 + 1, 1 + 1, 1 + 2, 1] == 0  # channel 5 is padding
    dec = TriplaneDecoder(5, 20, 4)
    w = pack_decoder(dec)
    assert w.shape == (weight_vec4s(5, 20), 4) and w.nbytes <= 16384
    np.testing.assert_allclose(w[0], dec.net[0].weight[0, :4].detach().numpy() / 3.0, rtol=1e-6)


@pytest.mark.parametrize(
    "planes, decoder, message",
    [
        (torch.zeros(2, 24, 8, 8), "ok", r"shape \[3, C, H, W\]"),
        (torch.zeros(3, 24, 8), "ok", r"shape \[3, C, H, W\]"),
        (torch.zeros(3, 24, 1, 8), "ok", "between 2 and"),
        (torch.zeros(3, 16, 8, 8), "ok", "16 channels, the decoder expects 24"),
        (torch.full((3, 24, 8, 8), float("nan")), "ok", "NaN"),
        (torch.zeros(3, 24, 8, 8), None, "no decoder"),
        (torch.zeros(3, 24, 8, 8), {"w1": np.zeros((64, 24))}, "missing b1, w2, b2"),
        (torch.zeros(3, 24, 8, 8), "nan", "decoder w2 contains"),
        (torch.zeros(3, 24, 8, 8), "3 outputs", r"w2 must be \[1 \+ F >= 4"),
        (torch.zeros(3, 24, 8, 8), "huge", "too large"),
    ],
)
def test_bad_input_messages(preview, planes, decoder, message):
    if decoder == "huge":
        decoder = TriplaneDecoder(24, 512, 16)
    elif decoder in ("ok", "nan", "3 outputs"):
        arr = decoder_arrays(TriplaneDecoder(24, 64, 16))
        if decoder == "nan":
            arr["w2"][3, 5] = np.nan
        elif decoder == "3 outputs":
            arr["w2"], arr["b2"] = arr["w2"][:3], arr["b2"][:3]
        decoder = arr
    with pytest.raises(ValueError, match=message):
        preview.set_field(planes, decoder)


def test_render_needs_a_field():
    p = GLSLPreview()
    try:
        with pytest.raises(ValueError, match="no field"):
            p.render(orbit_camera(0.0)[0], intrinsics_matrix(), 8)
    finally:
        p.release()

