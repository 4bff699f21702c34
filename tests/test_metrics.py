import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from backend.metrics import chamfer_distance, psnr, ssim


def test_psnr_and_ssim_agree_with_scikit_image():
    a = torch.rand(1, 3, 48, 48)
    b = (a + 0.05 * torch.randn_like(a)).clamp(0, 1)
    ref_psnr = peak_signal_noise_ratio(a[0].numpy(), b[0].numpy(), data_range=1.0)
    assert abs(psnr(b, a).item() - ref_psnr) < 1e-3
    ref_ssim = structural_similarity(
        a[0].permute(1, 2, 0).numpy(),
        b[0].permute(1, 2, 0).numpy(),
        channel_axis=2,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert abs(ssim(b, a).item() - ref_ssim) < 0.01
    assert ssim(a, a).item() > 0.999


def test_chamfer_of_shifted_points():
    pts = np.random.default_rng(0).random((500, 3))
    assert chamfer_distance(pts, pts) == 0.0
    assert abs(chamfer_distance(pts, pts + [0.01, 0, 0]) - 0.01) < 1e-3
