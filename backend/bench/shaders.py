"""Live preview benchmark: the GLSL ray-marcher on the software renderer against the torch renderer.

One 256x256 frame from the default portrait camera, both in this run. The preview marches
`STEPS` uniform samples a ray (moderngl on EGL: Mesa's llvmpipe on a machine without a GPU); the
baseline is `render_image` on the CPU with the default `RenderConfig` (48 stratified + 48
importance samples). `speedup_vs_torch` = torch ms / preview ms. PSNR is reported against that
default render and against the torch render with the preview's own samples (n_coarse=STEPS,
n_fine=0: the parity figure). The field is the shipped tiny lifter's triplane of the sample
clip's reference image when the weights are there, otherwise a seeded random triplane field.
"""


import numpy as np
import torch

from backend.bench import timed
from backend.config import RenderConfig
from backend.metrics import psnr
from backend.models.weights import default_lifter_path, load_lifter
from backend.render import TriplaneDecoder, TriplaneField, intrinsics_matrix, orbit_camera, render_image
from backend.render.glsl import GLSLPreview

RESOLUTION = 256
STEPS = 48
BACKGROUND = 1.0


def bench_field() -> tuple[torch.Tensor, TriplaneDecoder, str]:
    """(planes `[1, 3, C, H, W]`, decoder, description): the shipped lifter on the sample clip's reference."""
    import cv2

    from backend.models.lifter import crop_to_tensor
    from backend.synth import SAMPLE_CLIP_DIR

    lifter = load_lifter(default_lifter_path())
    rgb = cv2.cvtColor(cv2.imread(str(SAMPLE_CLIP_DIR / "reference.png")), cv2.COLOR_BGR2RGB)
    with torch.no_grad():
        planes = lifter(crop_to_tensor(rgb, lifter.cfg.image_size, torch.device("cpu")))
    return planes, lifter.decoder, "shipped tiny lifter on the sample clip's reference image"


def run(args) -> dict:
    repeats = 2 if args.quick else 5
    planes, decoder, description = bench_field()
    cam, K = orbit_camera(0.0), intrinsics_matrix(batch=1)
    preview = GLSLPreview()
    try:
        upload_ms, _ = timed(lambda: preview.set_field(planes, decoder), 1)
        first_ms, _ = timed(lambda: preview.render(cam[0], K[0], RESOLUTION, STEPS, BACKGROUND), 1)
        glsl_ms, img = timed(lambda: preview.render(cam[0], K[0], RESOLUTION, STEPS, BACKGROUND), repeats)
        renderer = preview.renderer
    finally:
        preview.release()
    field = TriplaneField(planes, decoder)

    def torch_render(cfg: RenderConfig) -> np.ndarray:
        with torch.no_grad():
            return render_image(field, cam, K, RESOLUTION, cfg)["rgb"][0].permute(1, 2, 0).numpy()

    torch_ms, ref = timed(lambda: torch_render(RenderConfig(background=BACKGROUND)), max(1, repeats - 1))
    same = torch_render(RenderConfig(n_coarse=STEPS, n_fine=0, background=BACKGROUND))
    return {
        "field": description,
        "resolution": RESOLUTION,
        "preview_steps": STEPS,
        "gl_renderer": renderer,
        "torch_threads": torch.get_num_threads(),
        "preview_ms": round(glsl_ms, 1),
        "preview_first_frame_ms": round(first_ms, 1),
        "preview_upload_ms": round(upload_ms, 1),
        "torch_ms": round(torch_ms, 1),
        "torch_config": "RenderConfig() (48 stratified + 48 importance samples)",
        "speedup_vs_torch": round(torch_ms / glsl_ms, 2),
        "psnr_vs_torch_default": round(psnr(torch.as_tensor(img)[None], torch.as_tensor(ref)[None]).item(), 2),
        "psnr_vs_torch_same_samples": round(psnr(torch.as_tensor(img)[None], torch.as_tensor(same)[None]).item(), 2),
    }

